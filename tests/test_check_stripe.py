"""``portal check-stripe``: one harmless call per permission with the configured key, a
table of what Stripe answered, and a non-zero exit when a required permission is missing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from portal.cli import main
from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import EmulatorState, create_app
from portal.stripe.checks import PERMISSIONS, key_findings

KEY = "rk_test_checkstripe1234567890"
ENV = {
    "PORTAL_SECRET_KEY": "x" * 40,
    "PORTAL_PUBLIC_URL": "https://portal.example.jp",
    "PORTAL_STRIPE_SECRET_KEY": KEY,
    "PORTAL_STRIPE_WEBHOOK_SECRET": "whsec_abc123",
    "PORTAL_OIDC_ISSUER": "https://login.example.jp",
    "PORTAL_OIDC_CLIENT_ID": "portal",
    "PORTAL_OIDC_CLIENT_SECRET": "secret",
    "PORTAL_S3_BUCKET": "shop-deliverables",
    "PORTAL_ORDER_ID_KEY": "k" * 40,
}
REQUIRED = {p.name for p in PERMISSIONS if p.required}
EVERY = {p.name for p in PERMISSIONS}


@pytest.fixture(scope="module")
def stripe_emulator() -> Iterator[tuple[EmulatorState, str]]:
    state = EmulatorState()
    port = free_port()
    with run_in_thread(create_app(state, api_key=KEY), port=port) as server:
        yield state, server.url


@pytest.fixture
def check(stripe_emulator, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    state, url = stripe_emulator
    for name in [n for n in __import__("os").environ if n.startswith("PORTAL_")]:
        monkeypatch.delenv(name)
    for name, value in {**ENV, "PORTAL_STRIPE_API_BASE": url}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir("/")  # no .env

    def run(permissions: set[str] | None) -> tuple[int, str]:
        state.faults.restrict_key(permissions)
        try:
            status = main(["check-stripe"])
        finally:
            state.faults.clear()
        return status, capsys.readouterr().out

    return run


def _row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if f"  {name}  " in line)


def test_a_key_with_every_permission_passes_and_prints_the_table(check):
    status, out = check(EVERY)
    assert status == 0, out
    assert "ok    a restricted key (test mode)" in out
    for permission in PERMISSIONS:
        assert _row(out, permission.name).endswith("granted")
    assert "rk_test_check" not in out  # never the key


def test_the_old_readme_key_fails_and_names_each_missing_permission(check):
    status, out = check({"rak_checkout_session_read"})
    assert status == 1
    assert _row(out, "rak_checkout_session_read").endswith("granted")
    missing = _row(out, "rak_payment_intent_read")
    assert (
        "required" in missing
        and "missing: Stripe: the key lacks rak_payment_intent_read" in missing
    )


def test_optional_permissions_missing_still_pass(check):
    status, out = check(REQUIRED)
    assert status == 0, out
    assert "optional" in _row(out, "rak_customer_portal_write")
    assert "missing" in _row(out, "rak_customer_portal_write")


def test_a_write_permission_counts_as_its_read(check):
    status, out = check({*REQUIRED - {"rak_payment_intent_read"}, "rak_payment_intent_write"})
    assert status == 0, out


def test_unsaved_billing_portal_settings_are_a_warning(check, stripe_emulator):
    state, _ = stripe_emulator
    state.portal_configured = False
    try:
        status, out = check(EVERY)
    finally:
        state.portal_configured = True
    assert status == 0
    assert "warn  billing portal settings are not saved in this mode" in out


def test_a_full_secret_key_is_a_warning_not_a_failure():
    ((level, line),) = key_findings("sk_live_abcdef")
    assert level == "warn" and "full secret key (live mode)" in line
