"""Order Portal: a customer's orders, read from Stripe, with downloads from S3."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from cachelib.base import BaseCache
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal import (
    audit,
    auth,
    errors,
    i18n,
    metrics,
    rate_limits,
    security,
    sessions,
    shop,
    stripe_budget,
)
from portal.auth.customer import load_customer
from portal.cache_store import make_backend, redis_of
from portal.deliverables import Deliverables
from portal.deliverables import make_client as make_s3_client
from portal.eventbridge import EventForwarder
from portal.extensions import csrf, login_manager
from portal.fulfilment.wiring import event_alerts
from portal.order_cache import OrderCache
from portal.order_numbers import OrderNumbers
from portal.order_refs import ReferencePolicy, UnsignedReferences
from portal.orders.service import OrderService
from portal.orders.spellings import EmailSpellings
from portal.receipts.issue import Issuer, ReceiptConfig
from portal.receipts.service import ReceiptService
from portal.receipts.tax import TaxRates
from portal.redis_client import MasterWatch, is_sentinel_managed
from portal.settings import Settings
from portal.stripe.client import STRIPE_TIMEOUT_SECONDS
from portal.stripe.client import make_client as make_stripe_client
from portal.stripe.guard import CUSTOMER_CONCURRENCY, Limits, StripeGuard
from portal.stripe.queries import StripeOrders
from portal.stripe.receipt_memory import ReceiptMemory
from portal.webhooks.handler import EventHandler

ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the portal. Reads the environment only when no ``settings`` are given.

    Makes no network calls: Stripe, S3 and the provider's discovery are reached on first
    use, so the app starts (and ``/healthz`` answers) even while one of them is down.
    """
    settings = settings or Settings.from_env()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=1024 * 1024,
        PORTAL_PUBLIC_URL=settings.public_url,
        PORTAL_SESSION_HOURS=settings.session_hours,
        PORTAL_SESSION_IDLE_MINUTES=settings.session_idle_minutes,
        PREFERRED_URL_SCHEME="https" if settings.https else "http",
    )
    app.extensions["portal.settings"] = settings
    if settings.trusted_proxies:
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)  # type: ignore[method-assign]

    # One Redis client (one pool per process) for the cache, sessions, limits and guard.
    backend = make_backend(settings.cache_url)
    redis = redis_of(backend)
    if redis is not None and is_sentinel_managed(redis):
        app.before_request(MasterWatch(redis).check)
    metrics.install(app)
    sessions.install(app, settings, redis)
    _init_extensions(app, settings)
    i18n.install(app, settings)
    shop.install(app, settings.shop)
    _init_services(app, settings, backend)
    stripe_budget.install(app, settings.stripe_budget_seconds)
    _register_blueprints(app)
    rate_limits.install(app, redis)
    errors.register(app)
    security.install(
        app,
        public_url=settings.public_url,
        hsts=settings.hsts,
        stripe_pages=_stripe_pages(settings),
    )
    audit.install(app)
    logging.getLogger("portal").setLevel(logging.INFO)
    return app


def _stripe_pages(settings: Settings) -> tuple[str, ...]:
    """Where Stripe's hosted pages (checkout, billing portal) may live besides Stripe's
    own domains: a shop's custom domain, seen in its Payment Links, and a stand-in's
    origin (the demo's emulator serves its pages from its API address)."""
    urls = [url for _, url in settings.payment_links]
    return (*urls, settings.stripe_api_base) if settings.stripe_api_base else tuple(urls)


def _init_extensions(app: Flask, settings: Settings) -> None:
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.user_loader(load_customer)
    login_manager.login_view = "auth.login"
    login_manager.login_message = ""
    login_manager.session_protection = None  # sessions are already bound by OIDC login
    auth.install(app, settings)


def _init_services(app: Flask, settings: Settings, backend: BaseCache) -> None:
    guard = StripeGuard(
        Limits(
            per_worker=settings.stripe_concurrency,
            per_customer=CUSTOMER_CONCURRENCY,
            calls_per_second=settings.stripe_call_rate,
        ),
        redis_of(backend),
        STRIPE_TIMEOUT_SECONDS,
    )
    app.extensions["portal.stripe_guard"] = guard
    stripe_client = make_stripe_client(settings.stripe_secret_key, settings.stripe_api_base, guard)
    s3_client = make_s3_client(settings.s3_endpoint_url)
    cache = OrderCache(
        backend,
        ttl=settings.cache_ttl_seconds,
        stale=settings.cache_stale_seconds,
    )
    spellings = EmailSpellings(backend)
    app.extensions["portal.cache"] = cache
    orders = StripeOrders(stripe_client)
    app.extensions["portal.orders"] = OrderService(
        orders,
        Deliverables(
            s3_client, settings.s3_bucket, settings.s3_prefix, settings.download_ttl_seconds
        ),
        cache,
        reference_policy(settings),
        OrderNumbers(settings.order_number_pattern) if settings.order_number_pattern else None,
        spellings=spellings,
        keep_files_during_disputes=settings.disputed_orders_keep_files,
    )
    rates = TaxRates(settings.tax_rate, dict(settings.product_tax_rates))
    app.extensions["portal.tax_rates"] = rates
    if settings.receipts_enabled:
        app.extensions["portal.receipts"] = _receipt_service(
            settings, orders, ReceiptMemory(stripe_client), rates, app.extensions["portal.orders"]
        )
    bus = settings.eventbridge_bus
    forwarder = EventForwarder.for_bus(bus) if bus else None
    alerts = event_alerts(settings, orders, backend)
    app.extensions["portal.webhooks"] = EventHandler(cache, forwarder, alerts, spellings=spellings)


def reference_policy(settings: Settings) -> ReferencePolicy:
    """Which references give files, from the settings (the app and ``portal watch``)."""
    if not settings.unsigned_order_ids:
        return ReferencePolicy(settings.order_id_key)
    log.warning(
        "PORTAL_UNSIGNED_ORDER_IDS is set: anyone who knows an OrderID matching it can pay "
        "with it and be shown that order's files%s. Sign OrderIDs instead "
        "(README: Signed OrderIDs).",
        ""
        if settings.unsigned_order_ids_until
        else " (set PORTAL_UNSIGNED_ORDER_IDS_UNTIL to limit this to past orders)",
    )
    unsigned = UnsignedReferences(
        re.compile(settings.unsigned_order_ids), settings.unsigned_order_ids_until
    )
    return ReferencePolicy(settings.order_id_key, unsigned)


def _receipt_service(
    settings: Settings,
    orders: StripeOrders,
    memory: ReceiptMemory,
    rates: TaxRates,
    order_service: OrderService,
) -> ReceiptService:
    assert settings.receipt_issuer_name is not None
    config = ReceiptConfig(
        issuer=Issuer(
            settings.receipt_issuer_name,
            settings.receipt_issuer_address,
            settings.receipt_registration_number,
        ),
        rates=rates,
        allow_uesama=settings.receipt_allow_uesama,
        default_purpose=settings.receipt_purpose,
    )

    def changed(email: str, session_id: str) -> None:
        order_service.order_changed(email=email, session_id=session_id)

    return ReceiptService(orders, memory, config, changed)


def _register_blueprints(app: Flask) -> None:
    from portal.auth.routes import bp as auth_bp
    from portal.fulfilment.routes import bp as fulfilment_bp
    from portal.main import bp as main_bp
    from portal.orders.routes import bp as orders_bp
    from portal.receipts.routes import bp as receipts_bp
    from portal.webhooks.routes import bp as webhooks_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(orders_bp)
    app.register_blueprint(receipts_bp)
    app.register_blueprint(webhooks_bp)
    app.register_blueprint(fulfilment_bp)
