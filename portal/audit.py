"""The audit trail: one JSON line per login, failed login, logout, refused webhook, download.

Written to the ``portal.audit`` logger. It says who (email masked), what, from where and
which request, and never a code, token, key, signature or presigned URL. Being JSON, a CR or
LF inside any value is escaped, so no value can forge a line of its own.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

from flask import Flask, g, request
from werkzeug.wrappers import Response

from portal import metrics

log = logging.getLogger("portal.audit")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")


def record(event: str, **fields: Any) -> None:
    """Write one audit line for the current request."""
    entry = {"event": event, "ip": request.remote_addr, "request_id": request_id(), **fields}
    if event in ("login", "login_failed"):
        outcome = "ok" if event == "login" else "refused"
        metrics.LOGINS.labels(outcome=outcome, reason=str(fields.get("reason", ""))).inc()
    # The message is the line itself; ``portal.logs`` writes the fields into its JSON line.
    message = json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)
    log.info(message, extra={"audit": entry})


def mask_email(email: str) -> str:
    """``a***@example.com``: enough to tell customers apart in a log, not to collect them."""
    local, _, domain = email.strip().partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def request_id() -> str:
    """The proxy's ``X-Request-Id`` when it looks like one, else one made here."""
    if "request_id" not in g:
        offered = request.headers.get("X-Request-Id", "")
        g.request_id = offered if _REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
    return str(g.request_id)


def install(app: Flask) -> None:
    """Echo the request id on every response, so a customer's report can be found."""
    logging.getLogger("portal.audit").setLevel(logging.INFO)

    @app.after_request
    def add_request_id(response: Response) -> Response:
        response.headers["X-Request-Id"] = request_id()
        return response
