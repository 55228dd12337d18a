"""Where the portal's log lines go, set up once per process by each way of starting it.

Every record — the audit trail (``portal.audit``), the portal's own warnings and errors,
and the libraries' — goes to stderr as one JSON line, under gunicorn exactly as under the
development server and the demo. Being JSON, a CR, LF or escape character inside any value
is escaped, so no request can forge a line. gunicorn's access log gets the same protection
from :class:`AccessLog`.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger as GunicornLogger

_HANDLER_NAME = "portal-json-lines"


class JsonLines(logging.Formatter):
    """``{"time", "level", "logger", "message"}``; an audit record's fields instead of its
    message; ``exception`` with the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
        }
        audit = getattr(record, "audit", None)
        if isinstance(audit, dict):
            entry.update(audit)
        else:
            entry["message"] = record.getMessage()
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str)


def configure() -> None:
    """Send every log record of this process to stderr as JSON lines (once; idempotent).

    The portal logs at INFO (the audit trail is INFO), libraries at WARNING.
    """
    root = logging.getLogger()
    if any(handler.get_name() == _HANDLER_NAME for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonLines())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("portal").setLevel(logging.INFO)


def escaped(value: str) -> str:
    """``value`` with control characters, quotes, backslashes and non-ASCII escaped as in
    JSON, so it stays inside its own field of one log line."""
    return json.dumps(value, ensure_ascii=True)[1:-1]


class AccessLog(GunicornLogger):
    """gunicorn's logger, with every request-controlled value of the access line escaped.

    gunicorn writes ``%(U)s`` (the decoded path) and headers as they came: ``%0d%0a`` in a
    path would otherwise start a forged line, and ``%1b[`` colour a terminal.
    """

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        return {
            key: escaped(value) if isinstance(value, str) else value
            for key, value in super().atoms(resp, req, environ, request_time).items()
        }
