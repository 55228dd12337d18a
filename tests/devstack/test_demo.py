"""``portal demo``: the shop's whole flow on one machine, driven over HTTP like a browser."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
import requests

from portal.devstack.demo import BUCKET, DemoStack, demo_stack
from portal.order_numbers import derived_number
from portal.order_refs import order_id_of

ROOT = Path(__file__).resolve().parents[2]
JOHN = "john@example.com"


@pytest.fixture(scope="module")
def stack() -> Iterator[DemoStack]:
    with demo_stack(0, fulfilment_delay=0.5) as running:
        yield running


def _login(stack: DemoStack, email: str) -> tuple[requests.Session, requests.Response]:
    browser = requests.Session()
    # These tests read the English pages; the demo's default language is Japanese.
    browser.headers["Accept-Language"] = "en"
    form = browser.get(f"{stack.portal_url}/orders", timeout=10)
    assert form.url.startswith(stack.oidc_url)
    assert email in form.text  # one-click demo customers on the provider's form
    orders = browser.post(form.url, data={"sub": email}, timeout=10)
    assert orders.url == f"{stack.portal_url}/orders"
    return browser, orders


def _wait_for(check, seconds: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_seeded_orders_show_in_jpy_and_usd_with_their_states(stack):
    _, orders = _login(stack, "hanako@example.jp")
    page = orders.text
    assert "JP-1001" in page and "¥5,000" in page and "$19.99" in page
    assert "Awaiting payment" in page and "Paid" in page


def test_paid_orders_without_files_say_why_being_prepared_or_disputed(stack):
    # One login for both: the demo's customers are rate-limited like real ones.
    browser, orders = _login(stack, "hanako@example.jp")
    link = re.search(r'href="(/orders/cs_[^"]+)">Poster B2<', orders.text).group(1)
    assert "being prepared" in browser.get(stack.portal_url + link, timeout=10).text
    link = re.search(r'href="(/orders/cs_[^"]+)">Photo print set<', orders.text).group(1)
    page = browser.get(stack.portal_url + link, timeout=10).text
    assert "Payment disputed" in page and "/files/" not in page


def test_the_customer_with_120_orders_pages_through_them(stack):
    browser, orders = _login(stack, "many@example.jp")
    assert "MANY-0120" in orders.text and 'rel="next"' in orders.text
    last = browser.get(f"{stack.portal_url}/orders?page=3", timeout=10)
    assert last.status_code == 200 and "MANY-0001" in last.text
    assert 'rel="next"' not in last.text


def test_a_konbini_purchase_is_awaiting_until_paid_then_paid(stack):
    browser, _ = _login(stack, "john@example.com")
    query = "client_reference_id=E2E-KONBINI&locked_prefilled_email=john@example.com"
    checkout = browser.get(f"{stack.payment_link_url}?{query}", timeout=10)
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', checkout.text))
    voucher = browser.post(
        checkout.url, data={**hidden, "email": "x", "payment_method": "konbini"}, timeout=10
    )
    assert "/vouchers/" in voucher.url and "Mark as paid" in voucher.text  # no redirect to us
    orders = browser.get(f"{stack.portal_url}/orders", timeout=10).text
    row = orders.split("E2E-KONBINI", 1)[1].split("</tr>", 1)[0]
    assert "Awaiting payment" in row
    browser.post(voucher.url + "/pay", timeout=10)
    orders = browser.get(f"{stack.portal_url}/orders", timeout=10).text
    assert "Paid" in orders.split("E2E-KONBINI", 1)[1].split("</tr>", 1)[0]


def test_portal_demo_starts_answers_healthz_and_stops_on_ctrl_c():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "portal.cli", "demo", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        for line in process.stdout:  # type: ignore[union-attr]
            found = re.search(r"Portal:\s+(http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "portal demo printed no URL"
        health = requests.get(f"{url}/healthz", timeout=10)
        first_200 = time.monotonic() - started
        assert health.status_code == 200
        assert first_200 < 30
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()


def _session_of(stack: DemoStack, reference: str) -> dict:
    return next(
        s
        for s in stack.emulator.sessions.values()
        if order_id_of(s["client_reference_id"] or "") == reference
    )


def test_a_refund_in_stripe_shows_on_the_order_and_ends_its_downloads(stack):
    browser, _ = _login(stack, "john@example.com")
    session = _session_of(stack, "US-2005")
    page = browser.get(f"{stack.portal_url}/orders/{session['id']}", timeout=10)
    assert "View the payment receipt" in page.text and "result.txt" in page.text
    stack.emulator.refund(session["id"], 1000)
    page = browser.get(page.url, timeout=10)
    assert "Partly refunded" in page.text and "$10.00" in page.text
    stack.emulator.refund(session["id"])
    page = browser.get(page.url, timeout=10)
    assert "Refunded" in page.text and "can no longer be downloaded" in page.text
    download = browser.get(f"{page.url}/files/result.txt", timeout=10, allow_redirects=False)
    # Closed, and the page says why: the order was refunded (not "not found").
    assert download.status_code == 410 and "This order was refunded" in download.text


def test_a_refunded_subscription_order_shows_it_and_ends_its_downloads(stack):
    browser, orders = _login(stack, "hanako@example.jp")
    assert "JP-SUB-01" in orders.text
    session = _session_of(stack, "JP-SUB-01")
    assert session["payment_intent"] is None  # as on real Stripe: the invoice holds it
    page = browser.get(f"{stack.portal_url}/orders/{session['id']}", timeout=10)
    assert "View the payment receipt" in page.text and "result.txt" in page.text
    stack.emulator.refund(session["id"])  # sends charge.refunded to the portal
    page = browser.get(page.url, timeout=10)
    assert "Refunded" in page.text and "can no longer be downloaded" in page.text
    download = browser.get(f"{page.url}/files/result.txt", timeout=10, allow_redirects=False)
    # Closed, and the page says why: the order was refunded (not "not found").
    assert download.status_code == 410 and "This order was refunded" in download.text


def test_an_expired_konbini_voucher_shows_the_payment_failed(stack):
    browser, _ = _login(stack, "john@example.com")
    session = _session_of(stack, "US-2004")
    page = browser.get(f"{stack.portal_url}/orders/{session['id']}", timeout=10)
    assert "Pay at a convenience store" in page.text
    stack.emulator.fail_payment(session["id"])
    assert "Payment failed" in browser.get(page.url, timeout=10).text


def test_manage_billing_opens_stripes_billing_portal_and_comes_back(stack):
    browser, orders = _login(stack, "hanako@example.jp")
    token = orders.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    portal = browser.post(
        f"{stack.portal_url}/orders/billing", data={"csrf_token": token}, timeout=10
    )
    assert portal.url.startswith(f"{stack.stripe_url}/billing/bps_")
    assert f'href="{stack.portal_url}/orders"' in portal.text


def test_guest_customers_see_no_billing_button(stack):
    _, orders = _login(stack, "john@example.com")
    assert "Manage billing" not in orders.text


def test_a_konbini_order_paid_later_shows_its_whole_history_and_invoice(stack):
    browser, _ = _login(stack, "hanako@example.jp")
    session = _session_of(stack, "JP-1003")
    stack.emulator.mark_paid(session["id"])
    page = browser.get(f"{stack.portal_url}/orders/{session['id']}", timeout=10).text
    history = page.split('<ol class="timeline">', 1)[1].split("</ol>", 1)[0]
    assert history.index("Order placed") < history.index("Awaiting payment") < history.index("Paid")
    assert "View your invoice" in page


def _checkout(browser: requests.Session, url: str) -> tuple[requests.Response, dict[str, str]]:
    checkout = browser.get(url, timeout=10)
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', checkout.text))
    return checkout, hidden


def _buy_through_the_portal(stack: DemoStack, email: str) -> tuple[requests.Session, str, str]:
    """Log in, buy through ``/buy/restoration``, wait for the file; returns the browser,
    the order page's URL and the signed reference."""
    browser, _ = _login(stack, email)
    checkout, hidden = _checkout(browser, f"{stack.portal_url}/buy/restoration")
    assert checkout.url.startswith(stack.payment_link_url)
    assert hidden["locked_prefilled_email"] == email and "readonly" in checkout.text
    landed = browser.post(checkout.url, data={**hidden, "payment_method": "card"}, timeout=10)
    assert re.fullmatch(rf"{stack.portal_url}/orders/cs_test_\w+", landed.url)
    assert "Thank you for your order" in landed.text
    _wait_for(lambda: (p := browser.get(landed.url, timeout=10)) and "result.txt" in p.text)
    # The worker notes the key just after S3 has it: wait for that too.
    folder = f"orders/{order_id_of(hidden['client_reference_id'])}/"
    _wait_for(lambda: any(key.startswith(folder) for key in stack.worker.written))
    return browser, landed.url, hidden["client_reference_id"]


def test_buying_through_the_portal_signs_the_order_id_and_the_file_arrives(stack):
    browser, order_url, reference = _buy_through_the_portal(stack, "hanako@example.jp")
    order_id, mac = reference.rsplit("_", 1)
    page = browser.get(order_url, timeout=10)
    assert f"Order {derived_number(order_id)}" in page.text
    assert order_id not in page.text and mac not in page.text
    link = re.search(r'href="([^"]+/files/result.txt)"', page.text).group(1)
    download = browser.get(stack.portal_url + link, timeout=10)
    s3 = boto3.client("s3", endpoint_url=stack.s3_url, region_name="us-east-1")
    stored = s3.get_object(Bucket=BUCKET, Key=f"orders/{order_id}/result.txt")["Body"].read()
    assert download.status_code == 200 and download.content == stored


def test_buy_asks_for_a_login_before_the_payment_link(stack):
    browser = requests.Session()
    answer = browser.get(f"{stack.portal_url}/buy/restoration", timeout=10)
    assert answer.url.startswith(stack.oidc_url)  # the provider's login form, not the link


@pytest.mark.parametrize("claim", ["seeded order id", "bare uuid", "replayed", "folder name"])
def test_a_stranger_paying_with_someone_elses_reference_sees_nothing_and_nothing_is_written(
    stack, claim
):
    """F1/F9: pay the link directly with another buyer's reference, in each of its forms."""
    s3 = boto3.client("s3", endpoint_url=stack.s3_url, region_name="us-east-1")
    s3.put_object(Bucket=BUCKET, Key="internal/2026-payroll.csv", Body=b"salaries")
    if claim in ("bare uuid", "replayed"):
        _, _, reference = _buy_through_the_portal(stack, "hanako@example.jp")
        claimed = reference if claim == "replayed" else reference.rsplit("_", 1)[0]
    else:
        claimed = "JP-1001" if claim == "seeded order id" else "internal"
    written = list(stack.worker.written)
    john, _ = _login(stack, JOHN)
    query = urlencode(
        {"client_reference_id": claimed, "locked_prefilled_email": "john@example.com"}
    )
    checkout, hidden = _checkout(john, f"{stack.payment_link_url}?{query}")
    assert hidden["client_reference_id"] == claimed  # Stripe keeps it: it is well-formed
    landed = john.post(checkout.url, data={**hidden, "payment_method": "card"}, timeout=10)
    session_id = landed.url.rsplit("/", 1)[1]
    _wait_for(lambda: session_id in stack.worker.refused)
    page = john.get(landed.url, timeout=10).text
    assert "no files to download" in page and "/files/" not in page
    for name in ("result.txt", "2026-payroll.csv", f"receipt-{claimed}.pdf"):
        assert john.get(f"{landed.url}/files/{name}", timeout=10).status_code == 404
    time.sleep(0.7)  # past the worker's delay: a write it had scheduled would have happened
    assert stack.worker.written == written


def test_a_restricted_key_without_a_permission_is_the_unavailable_page_and_a_log_line(
    stack, caplog
):
    browser, _ = _login(stack, "john@example.com")
    order = stack.emulator.add_order("john@example.com", items=[("Zine", 1200, 1)])
    # The key the README once recommended: Checkout Sessions read, nothing else.
    stack.emulator.faults.restrict_key({"rak_checkout_session_read"})
    try:
        page = browser.get(f"{stack.portal_url}/orders/{order['id']}", timeout=10)
    finally:
        stack.emulator.faults.clear()
    assert page.status_code == 503 and "temporarily unavailable" in page.text
    logged = [r.getMessage() for r in caplog.records if "lacks the permission" in r.getMessage()]
    assert len(logged) == 1 and "rak_payment_intent_read" in logged[0]
    assert browser.get(page.url, timeout=10).status_code == 200  # with the permission back


def test_a_checkout_email_typed_with_a_capital_is_still_the_customers_order(stack):
    browser, _ = _login(stack, "hanako@example.jp")
    link = f"{stack.payment_link_url}?client_reference_id=E2E-CAPITAL"
    checkout = browser.get(link, timeout=10)
    hidden = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', checkout.text))
    # A phone capitalised the first letter; Stripe keeps the email exactly as typed.
    landed = browser.post(
        checkout.url,
        data={**hidden, "email": "Hanako@example.jp", "payment_method": "card"},
        timeout=10,
    )
    assert "Thank you for your order" in landed.text and "E2E-CAPITAL" in landed.text
    assert "E2E-CAPITAL" in browser.get(f"{stack.portal_url}/orders", timeout=10).text
    found = browser.get(f"{stack.portal_url}/orders?q=E2E-CAPITAL", timeout=10).text
    assert "E2E-CAPITAL" in found
    assert "E2E-CAPITAL" in browser.get(f"{stack.portal_url}/orders.csv", timeout=10).text


def test_manage_billing_without_saved_portal_settings_says_so_on_the_page(stack):
    browser, orders = _login(stack, "hanako@example.jp")
    token = orders.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    stack.emulator.portal_configured = False
    try:
        answer = browser.post(
            f"{stack.portal_url}/orders/billing", data={"csrf_token": token}, timeout=10
        )
    finally:
        stack.emulator.portal_configured = True
    assert answer.url == f"{stack.portal_url}/orders" and answer.status_code == 200
    assert "Managing billing online is not available yet" in answer.text
