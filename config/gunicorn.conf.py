"""gunicorn settings for Order Portal. Override any of them with GUNICORN_CMD_ARGS."""

import gc
import multiprocessing
import os
import sys

bind = (os.environ.get("PORT") and f"0.0.0.0:{os.environ['PORT']}") or "127.0.0.1:8000"
workers = min(4, multiprocessing.cpu_count() * 2)
# Pages wait on Stripe; threads keep a worker useful while one request waits.
worker_class = "gthread"
threads = 4
timeout = 30
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
# Request lines only: query strings may hold a Checkout Session id, never a secret.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


def on_starting(server):
    """Validate settings once in the master, so a bad one stops start-up with one line."""
    from portal.settings import SettingsError
    from portal.startup import checked_settings

    try:
        checked_settings()
    except SettingsError as exc:
        print(f"portal: setting {exc}", file=sys.stderr)
        sys.exit(1)


def pre_fork(server, worker):
    """Move everything loaded so far out of the garbage collector's reach.

    Otherwise the first collection in each worker touches every object header and so
    copies the pages preload_app shares (Python's own advice for forking servers).
    """
    gc.freeze()
