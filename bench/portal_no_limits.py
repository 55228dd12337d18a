"""``wsgi:app`` with its rate limits switched off, for the benchmark's load tests.

The portal lets one customer view 120 pages and sign 30 downloads a minute
(``portal/rate_limits.py``); a load test from one login would otherwise measure 429
pages. Everything else is the portal exactly as ``wsgi:app`` builds it. The webhook
benchmark uses ``wsgi:app`` itself, limits included.

    gunicorn -c config/gunicorn.conf.py --workers 2 bench.portal_no_limits:app
"""

from __future__ import annotations

from wsgi import app

_limiter = app.extensions.get("portal.limiter")
if _limiter is not None:
    _limiter.enabled = False

__all__ = ["app"]
