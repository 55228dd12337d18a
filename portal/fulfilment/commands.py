"""The fulfilment commands of ``portal`` (the CLI only dispatches here): ``watch``."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from portal import reference_policy
from portal.deliverables import Deliverables
from portal.deliverables import make_client as make_s3_client
from portal.domain import OrdersUnavailable, StripeMisconfigured
from portal.fulfilment.alerts import Alerts
from portal.fulfilment.dedupe import CacheUnavailable, Once
from portal.fulfilment.delivery import DeliveryReader
from portal.fulfilment.watch import DEFAULT_DAYS, Watch, WatchReport
from portal.fulfilment.wiring import make_alerts
from portal.order_cache import make_backend
from portal.settings import Settings
from portal.stripe.client import make_client as make_stripe_client
from portal.stripe.queries import StripeOrders

COMMANDS = ("watch",)


def add_parsers(commands: argparse._SubParsersAction) -> None:
    """Register the fulfilment commands on the ``portal`` parser."""
    watch = commands.add_parser(
        "watch", help="alert the shop about failed or overdue orders (for cron or a timer)"
    )
    watch.add_argument(
        "--days", type=int, default=DEFAULT_DAYS, help="look at orders of the last N days"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run the fulfilment command ``args.command``; returns the exit status."""
    try:
        return _watch(settings, args.days)
    except (OrdersUnavailable, StripeMisconfigured) as exc:
        print(
            f"portal {args.command}: Stripe: {exc} (request id {exc.request_id})", file=sys.stderr
        )
    except CacheUnavailable as exc:
        print(f"portal {args.command}: {exc}", file=sys.stderr)
    return 1


def _watch(settings: Settings, days: int) -> int:
    if not 1 <= days <= 90:
        print("portal watch: --days must be from 1 to 90", file=sys.stderr)
        return 2
    if not settings.cache_url or settings.cache_url == "memory://":
        print(
            "portal: setting PORTAL_CACHE_URL: portal watch needs a shared cache "
            "(file:// or redis://) to remember which alerts it sent",
            file=sys.stderr,
        )
        return 2
    alerts = make_alerts(settings, make_backend(settings.cache_url))
    report = watch_once(settings, alerts, days)
    if report is None:
        print("portal watch: another run holds the lock; nothing done")
        return 0
    for alert in report.sent:
        print(alerts.line(alert))
    print(report.summary())
    return 1 if report.failed_channels else 0


def watch_once(settings: Settings, alerts: Alerts, days: int = DEFAULT_DAYS) -> WatchReport | None:
    """One watch run under the run lock; ``None`` when another run holds it."""
    once = Once(make_backend(settings.cache_url))
    if not once.run_lock():
        return None
    try:
        watch = Watch(
            StripeOrders(make_stripe_client(settings.stripe_secret_key, settings.stripe_api_base)),
            DeliveryReader(_deliverables(settings)),
            reference_policy(settings),
            alerts,
            usual_hours=settings.fulfilment_hours,
        )
        return watch.run(datetime.now(tz=UTC), days)
    finally:
        once.release_run_lock()


def _deliverables(settings: Settings) -> Deliverables:
    return Deliverables(
        make_s3_client(settings.s3_endpoint_url),
        settings.s3_bucket,
        settings.s3_prefix,
        settings.download_ttl_seconds,
    )
