"""``portal demo``: the whole shop flow on one machine, with no accounts anywhere.

Starts, on loopback and free ports: the Stripe emulator, an OpenID provider
(oidc-provider-mock) with one-click demo customers, moto's S3 server, the shop's
fulfilment worker, and the portal itself, configured through the same ``PORTAL_*``
settings and code paths as production. Only where the settings point differs.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from portal import create_app, logs
from portal.cache_store import make_backend
from portal.devstack.alert_sink import AlertSink
from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import EmulatorState
from portal.devstack.stripe_emulator import create_app as create_emulator
from portal.devstack.worker import FulfilmentWorker
from portal.fulfilment.commands import watch_once
from portal.fulfilment.wiring import make_alerts
from portal.order_refs import order_id_of, sign
from portal.settings import Settings
from portal.shop_setting_values import JAPANESE_FONT_CANDIDATES

HOST = "127.0.0.1"
BUCKET = "order-portal-demo"
API_KEY = "sk_test_demo" + "0" * 24
OIDC_CLIENT_ID = "order-portal-demo"
#: Where the demo's files are, as ``PORTAL_S3_PREFIX`` (the portal's default).
PREFIX = "orders/{order_id}/"

#: The demo shop's identity (PORTAL_SHOP_* and co.), so its pages look like a real shop's.
SHOP = {
    "PORTAL_SHOP_NAME_JA": "フォトスタジオしずく",
    "PORTAL_SHOP_NAME_EN": "Shizuku Photo Studio",
    "PORTAL_SHOP_LOGO": str(Path(__file__).with_name("demo-logo.svg")),
    "PORTAL_SUPPORT_EMAIL": "support@shizuku.example.jp",
    "PORTAL_LEGAL_NOTICE_URL": "https://shizuku.example.jp/tokushoho",
    "PORTAL_PRIVACY_URL": "https://shizuku.example.jp/privacy",
}

#: Seconds between the demo's ``portal watch`` runs (cron would run it every few minutes).
WATCH_SECONDS = 15

#: (email, name) of the demo customers; the last one has 120 orders.
CUSTOMERS = (
    ("hanako@example.jp", "山田 花子"),
    ("john@example.com", "John Smith"),
    ("many@example.jp", "Taro Many-Orders"),
)


@dataclass(frozen=True)
class DemoStack:
    """Where each part of a running demo listens."""

    #: Where a browser opens the portal (the TLS proxy's address when there is one).
    portal_url: str
    #: Where the portal itself listens (plain http on loopback).
    portal_address: str
    stripe_url: str
    oidc_url: str
    s3_url: str
    payment_link_url: str
    emulator: EmulatorState
    worker: FulfilmentWorker
    #: The Payment Link whose product the worker cannot make (its orders fail).
    failing_link_url: str
    #: The Slack-compatible webhook the portal's alerts go to.
    alerts: AlertSink
    #: The portal's settings (for running its commands against the demo).
    settings: Settings


@contextmanager
def demo_stack(
    port: int = 0,
    *,
    fulfilment_delay: float = 3.0,
    public_url: str | None = None,
    echo_alerts: bool = False,
) -> Iterator[DemoStack]:
    """Start every part; stop them all when the block ends.

    With ``public_url`` the portal is set up as behind one TLS-terminating proxy at that
    address (``PORTAL_TRUSTED_PROXIES=1``), which the caller runs; Stripe's webhooks still
    reach the portal directly. With ``echo_alerts`` the shop's alerts are printed.
    """
    webhook_secret = "whsec_" + secrets.token_hex(16)
    order_id_key = secrets.token_urlsafe(48)
    portal_port = port or free_port()
    direct_url = f"http://{HOST}:{portal_port}"
    portal_url = public_url or direct_url
    with ExitStack() as stack:
        sink = AlertSink(echo=_print_alert if echo_alerts else None)
        sink_url = stack.enter_context(run_in_thread(sink.app(), host=HOST)).url
        cache_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="portal-demo-"))
        s3_url, s3 = _start_s3(stack)
        oidc_url = stack.enter_context(run_in_thread(_oidc_provider(), host=HOST)).url
        worker = FulfilmentWorker(
            s3,
            bucket=BUCKET,
            prefix_template=PREFIX,
            webhook_secret=webhook_secret,
            order_id_key=order_id_key.encode(),
            delay_seconds=fulfilment_delay,
        )
        stack.callback(worker.stop)
        worker_url = stack.enter_context(run_in_thread(worker.app(), host=HOST)).url
        emulator = EmulatorState()
        stripe_port = free_port()
        stripe_url = f"http://{HOST}:{stripe_port}"
        emulator_app = create_emulator(
            emulator,
            api_key=API_KEY,
            webhook_targets=[
                (f"{direct_url}/webhooks/stripe", webhook_secret),
                (f"{worker_url}/events", webhook_secret),
            ],
            public_url=stripe_url,
        )
        stack.enter_context(run_in_thread(emulator_app, host=HOST, port=stripe_port))
        link_id, link_url = _payment_link(stripe_url, portal_url)
        seed_orders(emulator, s3, order_id_key.encode(), link_id)
        failing_id, failing_url = _payment_link(stripe_url, portal_url, "Film scan", 2000)
        worker.failing_links.add(failing_id)
        settings = Settings.from_env(
            {
                "PORTAL_SECRET_KEY": secrets.token_urlsafe(48),
                "PORTAL_PUBLIC_URL": portal_url,
                "PORTAL_STRIPE_SECRET_KEY": API_KEY,
                "PORTAL_STRIPE_API_BASE": stripe_url,
                "PORTAL_STRIPE_WEBHOOK_SECRET": webhook_secret,
                "PORTAL_OIDC_ISSUER": oidc_url,
                "PORTAL_OIDC_CLIENT_ID": OIDC_CLIENT_ID,
                "PORTAL_OIDC_CLIENT_SECRET": secrets.token_urlsafe(16),
                "PORTAL_S3_BUCKET": BUCKET,
                "PORTAL_S3_ENDPOINT_URL": s3_url,
                # The demo's pages should show a new order at once, webhooks or not.
                "PORTAL_CACHE_TTL_SECONDS": "5",
                "PORTAL_ORDER_ID_KEY": order_id_key,
                "PORTAL_PAYMENT_LINKS": f"restoration={link_url} filmscan={failing_url}",
                "PORTAL_TRUSTED_PROXIES": "1" if public_url else "0",
                **_receipt_settings(),
                **SHOP,
                # Alerts to the console (a local Slack-compatible webhook), remembered in a
                # cache shared with the demo's watch runs.
                "PORTAL_ALERT_WEBHOOK_URL": f"{sink_url}/hooks/alerts",
                "PORTAL_CACHE_URL": f"file://{cache_dir}",
            }
        )
        stack.enter_context(run_in_thread(create_app(settings), host=HOST, port=portal_port))
        # Once the portal hears it: JP-1008's card issuer disputes the payment, so its
        # files are withheld while the dispute is open (and the shop is alerted).
        emulator.dispute(_session_of(emulator, "JP-1008"))
        stack.enter_context(_watching(settings))
        yield DemoStack(
            portal_url=portal_url,
            portal_address=f"{HOST}:{portal_port}",
            stripe_url=stripe_url,
            oidc_url=oidc_url,
            s3_url=s3_url,
            payment_link_url=link_url,
            emulator=emulator,
            worker=worker,
            failing_link_url=failing_url,
            alerts=sink,
            settings=settings,
        )


def _receipt_settings() -> dict[str, str]:
    """The demo shop issues 領収書 (a made-up issuer, a made-up but well-formed number) when
    the machine has a Japanese font to embed (``fonts-ipaexfont-gothic``)."""
    if not any(Path(font).is_file() for font in JAPANESE_FONT_CANDIDATES):
        logging.getLogger(__name__).warning(
            "no Japanese font installed: the demo issues no receipts"
        )
        return {}
    return {
        "PORTAL_RECEIPT_ISSUER_NAME": "デモ写真店株式会社",
        "PORTAL_RECEIPT_ISSUER_ADDRESS": "東京都千代田区丸の内1-1-1",
        "PORTAL_RECEIPT_REGISTRATION_NUMBER": "T9234567890123",
        # The emulator has no tax rates: prices are taken as including 10 %.
        "PORTAL_TAX_RATE": "10",
    }


@contextmanager
def _watching(settings: Settings) -> Iterator[None]:
    """``portal watch`` every few seconds in the background, as cron would run it."""
    stop = threading.Event()
    alerts = make_alerts(settings, make_backend(settings.cache_url))

    def loop() -> None:
        while not stop.wait(WATCH_SECONDS):
            try:
                watch_once(settings, alerts, days=2)
            except Exception:  # a demo keeps running; the log says why
                logging.getLogger(__name__).exception("demo watch run failed")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _print_alert(text: str) -> None:
    print(f"\n[alert to the shop's webhook]\n{text}\n", flush=True)


def run(port: int) -> int:
    """The ``portal demo`` command: start, print where things are, wait for Ctrl-C."""
    started = time.monotonic()
    logs.configure()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with demo_stack(port, echo_alerts=True) as stack:
        print(
            f"\nOrder Portal demo is running ({time.monotonic() - started:.1f} s to start)\n\n"
            f"  Portal:        {stack.portal_url}\n"
            f"  Log in as:     {', '.join(email for email, _ in CUSTOMERS)}\n"
            f"                 (one click on the provider's page)\n"
            f"  Buy something: {stack.portal_url}/buy/restoration  (signed OrderID)\n"
            f"  A failing one: {stack.portal_url}/buy/filmscan  (the worker fails it;"
            f" its alert is printed here)\n"
            f"  Stripe (emu):  {stack.stripe_url}   S3 (moto): {stack.s3_url}\n\n"
            "Press Ctrl-C to stop.\n",
            flush=True,
        )
        stop.wait()
    print("Stopped.", flush=True)
    return 0


def seed_orders(emulator: EmulatorState, s3: Any, order_id_key: bytes, link_id: str) -> None:
    """The demo customers' orders, and files for the paid ones that have them.

    Bought through the demo's Payment Link with OrderIDs signed for their buyers, as
    ``/buy/<name>`` (or ``portal sign-order-id``) would have made them.
    """
    hanako, john, many = (email for email, _ in CUSTOMERS)
    # Hanako's link made Stripe customers (customer_creation=always): she gets the
    # billing portal; John's checkouts were guest checkouts.
    hanako_customer = emulator.add_customer(hanako, CUSTOMERS[0][1])["id"]
    plan: list[tuple[str, str, str, list[tuple[str, int, int]], str, str, bool]] = [
        # email, order id, currency, items, payment status, method, has files
        (hanako, "JP-1001", "jpy", [("写真集 A4", 5000, 1)], "paid", "card", True),
        (hanako, "JP-1002", "jpy", [("Print L", 300, 4), ("Frame", 2200, 1)], "paid", "card", True),
        (hanako, "JP-1003", "jpy", [("Sticker set", 800, 2)], "unpaid", "konbini", False),
        (hanako, "JP-1004", "jpy", [("Poster B2", 4500, 1)], "paid", "card", False),
        (hanako, "JP-1005", "usd", [("Digital album", 1999, 1)], "paid", "card", True),
        (hanako, "JP-1007", "jpy", [("Film scan", 2000, 1)], "paid", "card", False),
        (hanako, "JP-1008", "jpy", [("Photo print set", 3500, 1)], "paid", "card", True),
        (
            hanako,
            "JP-1006",
            "jpy",
            [("Calendar 2027", 1800, 3)],
            "unpaid",
            "customer_balance",
            False,
        ),
        (john, "US-2001", "usd", [("Photo book", 4999, 1)], "paid", "card", True),
        (john, "US-2002", "usd", [("Prints", 250, 12)], "paid", "card", True),
        (john, "US-2003", "jpy", [("Postcards", 150, 10)], "paid", "card", True),
        (john, "US-2004", "jpy", [("Tote bag", 2500, 1)], "unpaid", "konbini", False),
        (john, "US-2005", "usd", [("Canvas", 8900, 1)], "paid", "card", True),
        (john, "US-2006", "usd", [("Mug", 1500, 2)], "paid", "card", True),
    ]
    now = int(time.time())
    for n, (email, order_id, currency, items, status, method, has_files) in enumerate(plan):
        emulator.add_order(
            email,
            created=now - (len(plan) - n) * 3600,  # over the last hours, oldest first
            client_reference_id=sign(order_id, link_id, email, order_id_key),
            payment_link=link_id,
            currency=currency,
            items=items,
            payment_status=status,
            payment_method=method,
            customer=hanako_customer if email == hanako else None,
            invoice=email == hanako,
        )
        if has_files:
            _put_files(s3, order_id)
    # A monthly plan Hanako signed up for: on real Stripe (and here) its session has no
    # PaymentIntent; the payment is on the subscription's first invoice.
    emulator.add_order(
        hanako,
        created=now - 30 * 3600,
        client_reference_id=sign("JP-SUB-01", link_id, hanako, order_id_key),
        payment_link=link_id,
        items=[("Photo club (monthly)", 980, 1)],
        customer=hanako_customer,
        mode="subscription",
    )
    _put_files(s3, "JP-SUB-01")
    # The fulfilment of JP-1007 failed: the buyer sees "delayed", the shop gets an alert.
    failed = b'{"state": "failed", "updated_at": "' + _iso(now - 3000) + b'"}'
    s3.put_object(
        Bucket=BUCKET, Key=PREFIX.format(order_id="JP-1007") + "_status.json", Body=failed
    )
    for n in range(1, 121):
        order_id = f"MANY-{n:04d}"
        emulator.add_order(
            many,
            created=now - (121 - n) * 600,
            client_reference_id=sign(order_id, link_id, many, order_id_key),
            payment_link=link_id,
            currency="jpy",
            items=[("Print", 100 * n, 1)],
        )
        _put_files(s3, order_id)


def _session_of(emulator: EmulatorState, order_id: str) -> str:
    return next(
        session_id
        for session_id, session in emulator.sessions.items()
        if order_id_of(session["client_reference_id"] or "") == order_id
    )


def _iso(moment: int) -> bytes:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment)).encode()


def _put_files(s3: Any, order_id: str) -> None:
    folder = PREFIX.format(order_id=order_id)
    s3.put_object(
        Bucket=BUCKET,
        Key=f"{folder}result.txt",
        Body=f"Your order {order_id} is ready.\n".encode(),
    )
    s3.put_object(Bucket=BUCKET, Key=f"{folder}receipt-{order_id}.pdf", Body=b"%PDF-1.4\n%demo\n")


def _start_s3(stack: ExitStack) -> tuple[str, Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "demo",
        "AWS_SECRET_ACCESS_KEY": "demo",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    stack.callback(server.stop)
    url = f"http://{HOST}:{port}"
    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    return url, s3


def _oidc_provider() -> Any:
    with warnings.catch_warnings():
        # oidc-provider-mock imports authlib modules authlib has deprecated.
        warnings.simplefilter("ignore", DeprecationWarning)
        from oidc_provider_mock import User
        from oidc_provider_mock import app as oidc_app
    users = [
        User(sub=email, claims={"email": email, "email_verified": True, "name": name})
        for email, name in CUSTOMERS
    ]
    return oidc_app(user_claims=users)


def _payment_link(
    stripe_url: str, portal_url: str, product: str = "Photo restoration", amount: int = 3000
) -> tuple[str, str]:
    """Create one of the demo's Payment Links through the emulator's API, as a shop would;
    returns its id and URL."""
    answer = requests.post(
        f"{stripe_url}/v1/payment_links",
        headers={"Authorization": f"Bearer {API_KEY}"},
        data={
            "line_items[0][price_data][currency]": "jpy",
            "line_items[0][price_data][unit_amount]": str(amount),
            "line_items[0][price_data][product_data][name]": product,
            "line_items[0][quantity]": "1",
            "after_completion[type]": "redirect",
            "after_completion[redirect][url]": (
                f"{portal_url}/orders/return?session_id={{CHECKOUT_SESSION_ID}}"
            ),
        },
        timeout=5,
    )
    answer.raise_for_status()
    link = answer.json()
    return str(link["id"]), str(link["url"])
