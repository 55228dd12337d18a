"""A Slack-compatible incoming webhook on loopback: the demo prints the alerts it gets.

``portal demo`` points ``PORTAL_ALERT_WEBHOOK_URL`` here, so the whole loop (a failed
fulfilment, the buyer's "delayed" page, the staff's alert) is visible without AWS. Tests
use it as the webhook receiver too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flask import Flask, jsonify, request
from werkzeug.wrappers import Response


class AlertSink:
    """Keeps every ``{"text": …}`` posted to ``POST /hooks/alerts``."""

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self.messages: list[str] = []
        #: When set, the sink answers this HTTP status (a webhook that is down).
        self.failing_with: int | None = None
        self._echo = echo
        self._lock = threading.Lock()

    def app(self) -> Flask:
        """The receiving endpoint, to serve with ``run_in_thread``."""
        app = Flask(__name__)
        app.add_url_rule("/hooks/alerts", view_func=self._receive, methods=["POST"])
        return app

    def _receive(self) -> tuple[Response, int]:
        if self.failing_with:
            return jsonify({"error": "unavailable"}), self.failing_with
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("text"), str):
            return jsonify({"error": 'expected {"text": ...}'}), 400
        with self._lock:
            self.messages.append(body["text"])
        if self._echo:
            self._echo(body["text"])
        return jsonify({"ok": True}), 200
