"""Prometheus metrics: what an operator watches (README: "Metrics and alerts").

The metrics are module-level, as prometheus-client expects: under gunicorn each worker
writes its values to files in ``PROMETHEUS_MULTIPROC_DIR`` (set by
``config/gunicorn.conf.py`` before anything imports this module), and the master serves
the sum of all workers on its own loopback address (``PORTAL_METRICS_BIND``), never
through the portal's public port. Without that directory (tests, the dev server) the
values stay in the process.
"""

from __future__ import annotations

import time
from wsgiref.simple_server import WSGIServer

from flask import Flask, g, request
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)
from werkzeug.wrappers import Response

STRIPE_CALLS = Counter(
    "portal_stripe_calls_total",
    "HTTP attempts made to Stripe, by operation and outcome (HTTP status or connection_error).",
    ["operation", "outcome"],
)
STRIPE_SECONDS = Histogram(
    "portal_stripe_call_seconds",
    "Time of one HTTP attempt to Stripe.",
    ["operation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8),
)
STRIPE_REFUSED = Counter(
    "portal_stripe_refused_total",
    "Stripe calls not made: breaker open, worker or customer busy, budget spent.",
    ["reason"],
)
BREAKER_OPEN = Gauge(
    "portal_stripe_breaker_open",
    "1 while a worker's Stripe circuit breaker is open.",
    multiprocess_mode="livemax",
)
CACHE_READS = Counter(
    "portal_cache_reads_total",
    "Order reads by kind (list, history, detail) and result (hit, miss, stale, unavailable).",
    ["kind", "result"],
)
WEBHOOKS = Counter(
    "portal_webhooks_total",
    "Stripe webhook requests by outcome (invalidated, duplicate, ignored, refused, retry_later).",
    ["outcome"],
)
LOGINS = Counter(
    "portal_logins_total",
    "Login attempts by outcome (ok, refused) and the refusal's reason.",
    ["outcome", "reason"],
)
RATE_LIMITED = Counter(
    "portal_rate_limited_total", "Requests answered 429 by a rate limit, by endpoint.", ["endpoint"]
)
S3_ERRORS = Counter("portal_s3_errors_total", "S3 calls that failed, by operation.", ["operation"])
REQUEST_SECONDS = Histogram(
    "portal_request_seconds",
    "Time from the request reaching the app to its answer, by endpoint.",
    ["endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10),
)


def install(app: Flask) -> None:
    """Time every request, by endpoint (the view's name: a bounded label)."""

    @app.before_request
    def _start_clock() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _stop_clock(response: Response) -> Response:
        started = g.pop("metrics_started", None)
        if started is not None:
            endpoint = request.endpoint or "none"
            REQUEST_SECONDS.labels(endpoint=endpoint).observe(time.perf_counter() - started)
        return response


def serve(host: str, port: int) -> WSGIServer:
    """Serve every worker's metrics on ``host:port`` (called in the gunicorn master)."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server


def worker_exited(pid: int) -> None:
    """Drop a dead worker's live gauges (its counters keep counting in the sum)."""
    multiprocess.mark_process_dead(pid)
