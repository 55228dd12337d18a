"""gunicorn settings for Order Portal. Override any of them with GUNICORN_CMD_ARGS."""

import gc
import multiprocessing
import os
import sys
import tempfile

# Prometheus metrics in multiprocess mode: each worker writes its values to files here and
# the master serves their sum (portal/metrics.py). Set before the app is imported.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="order-portal-metrics-"))

# Two malloc arenas for all of a worker's threads (glibc), set before any thread exists so
# that the workers forked later inherit it: portal/malloc_arenas.py says why. (Importing
# it imports the portal package: after the line above.)
from portal.malloc_arenas import limit_arenas

limit_arenas()

# Loopback only: the TLS proxy in front (config/nginx/) is the way in. To listen on every
# interface (a platform router in front), pass --bind 0.0.0.0:$PORT; the master warns when
# PORTAL_TRUSTED_PROXIES is set then, as a client reaching gunicorn directly could claim
# any IP in X-Forwarded-For.
bind = f"127.0.0.1:{os.environ.get('PORT') or 8000}"
workers = min(4, multiprocessing.cpu_count() * 2)
# Pages wait on Stripe; threads keep a worker useful while one request waits.
worker_class = "gthread"
# 8 threads, of which at most PORTAL_STRIPE_CONCURRENCY (4) wait on Stripe at once: the
# others always serve health checks, webhooks and cached pages (bench/RESULTS.md).
threads = 8
timeout = 30
# A worker is replaced after about this many requests, so slow growth (fragmentation)
# never accumulates; the jitter keeps workers from restarting together.
max_requests = 2000
max_requests_jitter = 400
# Load the app once in the master and fork the workers from it: the imports, Stripe's and
# boto3's models are then shared copy-on-write instead of built again by every worker
# (bench/RESULTS.md: private memory per worker). Clients open their connections lazily,
# after the fork, so no socket is shared between workers.
preload_app = True
graceful_timeout = 20
keepalive = 5
# X-Forwarded-* headers are trusted by the portal itself (PORTAL_TRUSTED_PROXIES, via
# werkzeug's ProxyFix), not by gunicorn: keep gunicorn's default forwarded_allow_ips.
accesslog = "-"
errorlog = "-"
# Request lines only: query strings may hold a Checkout Session id, never a secret. Every
# value is escaped (portal.logs.AccessLog): a path cannot forge or colour a line.
# ``stripe=`` is what the request spent at Stripe (``0``, or ``2/2034ms``: attempts and
# their time, portal/stripe_budget.py); ``id=`` the request id the audit lines carry.
access_log_format = (
    '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms stripe=%({portal.stripe}e)s id=%({x-request-id}o)s'
)
logger_class = "portal.logs.AccessLog"


def on_starting(server):
    """Validate settings once in the master, so a bad one stops start-up with one line."""
    from portal.settings import SettingsError
    from portal.startup import checked_settings, proxy_warning, worker_class_problem

    problem = worker_class_problem(server.cfg.worker_class_str, _threading_patched())
    if problem:
        print(f"portal: {problem}", file=sys.stderr)
        sys.exit(1)
    try:
        server.portal_settings = settings = checked_settings()
    except SettingsError as exc:
        print(f"portal: setting {exc}", file=sys.stderr)
        sys.exit(1)
    warning = proxy_warning(server.cfg.address, settings.trusted_proxies)
    if warning:
        server.log.warning("portal: %s", warning)


def _threading_patched():
    """Whether gevent or eventlet has patched ``threading`` in this process already."""
    gevent = sys.modules.get("gevent.monkey")
    if gevent is not None and gevent.is_module_patched("threading"):
        return True
    eventlet = sys.modules.get("eventlet.patcher")
    return bool(eventlet is not None and eventlet.is_monkey_patched("thread"))


def when_ready(server):
    """Serve the workers' metrics from the master, on its own (loopback) address."""
    from portal import metrics

    bind = server.portal_settings.metrics_bind
    if bind:
        host, _, port = bind.rpartition(":")
        metrics.serve(host, int(port))
        server.log.info("metrics on http://%s/metrics", bind)


def child_exit(server, worker):
    """A replaced worker's gauges leave the sum; its counters stay counted."""
    from portal import metrics

    metrics.worker_exited(worker.pid)


def pre_fork(server, worker):
    """Move everything loaded so far out of the garbage collector's reach.

    Otherwise the first collection in each worker touches every object header and so
    copies the pages preload_app shares (Python's own advice for forking servers).
    """
    gc.freeze()
