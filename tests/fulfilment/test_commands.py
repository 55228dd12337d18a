"""The fulfilment commands as an operator runs them: ``portal watch`` (and friends)."""

from __future__ import annotations

import time

import pytest

from portal.cli import main
from tests.fulfilment.shop import order

ALICE = "alice.buyer@example.com"


@pytest.fixture
def environment(environment):  # type: ignore[no-untyped-def]
    """The shared host settings, with alerts in English."""
    environment.setenv("PORTAL_DEFAULT_LOCALE", "en")
    return environment


def test_watch_refuses_to_run_without_a_shared_cache(environment, monkeypatch, capsys):
    monkeypatch.setenv("PORTAL_CACHE_URL", "memory://")
    assert main(["watch"]) == 2
    assert capsys.readouterr().err.startswith("portal: setting PORTAL_CACHE_URL: portal watch")


def test_watch_prints_each_new_alert_and_its_cost_once(environment, stripe_api, capsys):
    order(stripe_api, "LATE-1", created=int(time.time()) - 30 * 3600)
    assert main(["watch", "--days", "3"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[0].startswith("Fulfilment overdue: order LATE-1")
    assert first[-1] == (
        "portal watch: 1 orders, 1 problems, 1 alerts sent, 0 already sent; "
        "cost: 1 Stripe calls, 1 S3 listings, 0 S3 status reads"
    )
    assert main(["watch", "--days", "3"]) == 0
    assert "0 alerts sent, 1 already sent" in capsys.readouterr().out


def test_alerts_are_written_in_the_shops_language(environment, monkeypatch, stripe_api, capsys):
    monkeypatch.setenv("PORTAL_DEFAULT_LOCALE", "ja")
    order(stripe_api, "LATE-JA", created=int(time.time()) - 30 * 3600)
    assert main(["watch"]) == 0
    assert capsys.readouterr().out.startswith("納品の遅延：注文 LATE-JA（cs_test_")


def test_watch_says_when_stripe_refuses_the_key(environment, stripe_api, capsys):
    stripe_api.fail_with = 401
    assert main(["watch"]) == 1
    assert capsys.readouterr().err.startswith("portal watch: Stripe: ")
