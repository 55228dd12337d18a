"""Why a login did not go through: one exception, with a reason for the page and a detail
for the operator's log."""

from __future__ import annotations


class LoginRefused(Exception):
    """The login must not go through.

    ``reason`` picks the page the customer sees (a short, fixed set); ``detail`` is the
    log line for the operator and says exactly what went wrong (issuer values, clock
    difference, the provider's error), never a code, token or secret.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def shown(value: object, limit: int = 120) -> str:
    """``value`` as it may appear in a log line: repr'd, printable, and cut short.

    Providers' error descriptions and issuers come from outside: ``repr`` escapes
    newlines and control characters so they cannot forge log lines.
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
