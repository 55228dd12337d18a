"""The fulfilment commands as an operator runs them: ``portal watch`` (and friends)."""

from __future__ import annotations

import time

import pytest

from portal.cli import main
from tests.conftest import BUCKET
from tests.fulfilment.shop import order
from tests.support.deliveries import ORDER_ID_KEY
from tests.test_settings import GOOD

ALICE = "alice.buyer@example.com"


@pytest.fixture
def environment(monkeypatch, tmp_path, s3, stripe_api):  # type: ignore[no-untyped-def]
    """The PORTAL_* settings of a host that runs the commands, with a shared file cache."""
    shop = {**GOOD, "PORTAL_S3_BUCKET": BUCKET, "PORTAL_ORDER_ID_KEY": ORDER_ID_KEY.decode()}
    for name, value in shop.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PORTAL_CACHE_URL", f"file://{tmp_path}/cache")
    monkeypatch.setenv("PORTAL_DEFAULT_LOCALE", "en")
    monkeypatch.chdir(tmp_path)  # no .env here


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
