"""Alerts posted to a Slack-compatible incoming webhook (``PORTAL_ALERT_WEBHOOK_URL``).

Slack, Mattermost, Rocket.Chat and others accept ``{"text": …}`` posted as JSON. The URL
is a secret (anyone holding it can post): it is never logged, only its host.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from portal.fulfilment.alerts import AlertNotSent

TIMEOUT_SECONDS = 5


class WebhookChannel:
    """Posts each alert message to one incoming webhook."""

    name = "webhook"

    def __init__(self, url: str, session: requests.Session | None = None) -> None:
        self._url = url
        self._session = session or requests.Session()

    def send(self, subject: str, text: str) -> None:
        """Post ``*subject*`` and the text, or raise :class:`AlertNotSent`."""
        host = urlsplit(self._url).hostname
        try:
            answer = self._session.post(
                self._url, json={"text": f"*{subject}*\n{text}"}, timeout=TIMEOUT_SECONDS
            )
        except requests.RequestException as exc:
            raise AlertNotSent(f"webhook at {host} did not answer ({type(exc).__name__})") from exc
        if answer.status_code >= 300:
            raise AlertNotSent(f"webhook at {host} answered HTTP {answer.status_code}")
