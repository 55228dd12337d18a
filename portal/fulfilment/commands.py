"""The fulfilment commands of ``portal`` (the CLI only dispatches here): ``watch``,
``fulfilment rerun`` and ``lookup``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from cachelib.base import BaseCache

from portal import reference_policy
from portal.cache_store import make_backend
from portal.deliverables import Deliverables
from portal.deliverables import make_client as make_s3_client
from portal.domain import OrdersUnavailable, StripeMisconfigured
from portal.eventbridge import EventForwarder, ForwardingFailed
from portal.fulfilment import ses
from portal.fulfilment.alerts import Alerts
from portal.fulfilment.dedupe import CacheUnavailable, Once
from portal.fulfilment.delivery import DeliveryReader
from portal.fulfilment.finding import DEFAULT_SEARCH_DAYS, find_orders
from portal.fulfilment.lookup import Lookup
from portal.fulfilment.mail import ReadyMails
from portal.fulfilment.rerun import RerunRefused, Reruns
from portal.fulfilment.ses import SesMailer
from portal.fulfilment.watch import DEFAULT_DAYS, Watch, WatchReport
from portal.fulfilment.wiring import make_alerts
from portal.order_refs import ReferencePolicy
from portal.settings import Settings
from portal.stripe.client import make_client as make_stripe_client
from portal.stripe.queries import StripeOrders

COMMANDS = ("watch", "fulfilment", "lookup")


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register the fulfilment commands on the ``portal`` parser."""
    watch = commands.add_parser(
        "watch", help="alert the shop about failed or overdue orders (for cron or a timer)"
    )
    watch.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="look at orders of the last N days"
    )
    fulfilment = commands.add_parser("fulfilment", help="act on an order's fulfilment")
    actions = fulfilment.add_subparsers(dest="action", required=True)
    rerun = actions.add_parser(
        "rerun", help="start a paid order's fulfilment again (EventBridge or the endpoint)"
    )
    rerun.add_argument("order", help="the OrderID or the cs_… Checkout Session id")
    rerun.add_argument(
        "--days", type=int, default=DEFAULT_SEARCH_DAYS, help="look for an OrderID this far back"
    )
    lookup = commands.add_parser(
        "lookup", help="what a customer sees: orders, files, status, alerts (for support)"
    )
    lookup.add_argument("who", help="the buyer's email, an OrderID, or a cs_… id")
    lookup.add_argument(
        "--days", type=int, default=DEFAULT_SEARCH_DAYS, help="look for an OrderID this far back"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the fulfilment command ``args.command``; returns the exit status."""
    if not 1 <= args.days <= 90:
        print(f"portal {args.command}: --days must be from 1 to 90", file=sys.stderr)
        return 2
    try:
        if args.command == "lookup":
            return _lookup(settings, args.who, args.days)
        if args.command == "fulfilment":
            return _rerun(settings, args.order, args.days)
        return _watch(settings, args.days)
    except (OrdersUnavailable, StripeMisconfigured) as exc:
        print(
            f"portal {args.command}: Stripe: {exc} (request id {exc.request_id})", file=sys.stderr
        )
    except CacheUnavailable as exc:
        print(f"portal {args.command}: {exc}", file=sys.stderr)
    return 1


def _watch(settings: Settings, days: int) -> int:
    if not _shared(settings):
        print(
            "portal: setting PORTAL_CACHE_URL: portal watch needs a shared cache "
            "(file:// or redis://) to remember which alerts it sent",
            file=sys.stderr,
        )
        return 2
    backend = make_backend(settings.cache_url)
    alerts = make_alerts(settings, backend)
    report = watch_once(settings, alerts, days, mails=_ready_mails(settings, backend))
    if report is None:
        print("portal watch: another run holds the lock; nothing done")
        return 0
    for alert in report.sent:
        print(alerts.line(alert))
    print(report.summary())
    return 1 if report.failed_channels else 0


def watch_once(
    settings: Settings, alerts: Alerts, days: int = DEFAULT_DAYS, mails: ReadyMails | None = None
) -> WatchReport | None:
    """One watch run under the run lock; ``None`` when another run holds it."""
    once = Once(make_backend(settings.cache_url))
    if not once.run_lock():
        return None
    try:
        watch = Watch(
            _stripe_orders(settings),
            DeliveryReader(_deliverables(settings)),
            _references(settings),
            alerts,
            usual_hours=settings.fulfilment_hours,
            mails=mails,
        )
        return watch.run(datetime.now(tz=UTC), days)
    finally:
        once.release_run_lock()


def _rerun(settings: Settings, wanted: str, days: int) -> int:
    if "@" in wanted:
        print("portal fulfilment rerun: name one order: its OrderID or cs_… id", file=sys.stderr)
        return 2
    orders = _stripe_orders(settings)
    found = find_orders(orders, wanted, now=datetime.now(tz=UTC), days=days)
    if not found.orders:
        print(
            f"portal fulfilment rerun: no order {wanted} in the last {days} days", file=sys.stderr
        )
        return 1
    if len(found.orders) > 1:
        ids = ", ".join(o.session_id for o in found.orders)
        print(
            f"portal fulfilment rerun: several orders are {wanted}: name one of {ids}",
            file=sys.stderr,
        )
        return 1
    order = found.orders[0]
    bus = settings.eventbridge_bus
    endpoint = settings.fulfilment_endpoint
    reruns = Reruns(
        orders,
        _references(settings),
        bus=EventForwarder.for_bus(bus) if bus else None,
        endpoint=(endpoint, settings.fulfilment_endpoint_secret or "") if endpoint else None,
        alerts=_alerts_if_shared(settings),
    )
    try:
        done = reruns.rerun(order)
    except RerunRefused as exc:
        print(
            f"portal fulfilment rerun: refused for order {order.number} "
            f"({order.session_id}): {exc}",
            file=sys.stderr,
        )
        return 1
    except ForwardingFailed:
        print("portal fulfilment rerun: EventBridge did not take the event", file=sys.stderr)
        return 1
    print(
        f"portal fulfilment rerun: order {order.number} ({order.session_id}, "
        f"{order.status.value}): {done.how}"
    )
    return 0


def _lookup(settings: Settings, wanted: str, days: int) -> int:
    now = datetime.now(tz=UTC)
    found = find_orders(_stripe_orders(settings), wanted, now=now, days=days)
    if not found.orders:
        print(f"portal lookup: no orders for {wanted}", file=sys.stderr)
        return 1
    reader = DeliveryReader(_deliverables(settings))
    alerts = _alerts_if_shared(settings)
    lookup = Lookup(reader, _references(settings), alerts, usual_hours=settings.fulfilment_hours)
    for order in found.orders:
        print("\n".join(lookup.describe(order, now)), end="\n\n")
    print(
        f"portal lookup: {len(found.orders)} orders; cost: {found.stripe_calls} Stripe calls, "
        f"{reader.listings} S3 listings"
    )
    return 0


def _shared(settings: Settings) -> bool:
    """Whether the cache is shared between processes (what was told is remembered)."""
    return bool(settings.cache_url) and settings.cache_url != "memory://"


def _alerts_if_shared(settings: Settings) -> Alerts | None:
    """The alerts, when the cache that remembers them is shared (else nothing is known)."""
    return make_alerts(settings, make_backend(settings.cache_url)) if _shared(settings) else None


def _ready_mails(settings: Settings, backend: BaseCache) -> ReadyMails | None:
    if not settings.mail_from:
        return None
    return ReadyMails(
        SesMailer(ses.make_client(), settings.mail_from),
        Once(backend),
        sender=settings.mail_from,
        public_url=settings.public_url,
        locale=settings.default_locale,
        shop=settings.shop,
    )


def _stripe_orders(settings: Settings) -> StripeOrders:
    return StripeOrders(make_stripe_client(settings.stripe_secret_key, settings.stripe_api_base))


def _references(settings: Settings) -> ReferencePolicy:
    return reference_policy(settings)


def _deliverables(settings: Settings) -> Deliverables:
    return Deliverables(
        make_s3_client(settings.s3_endpoint_url),
        settings.s3_bucket,
        settings.s3_prefix,
        settings.download_ttl_seconds,
    )
