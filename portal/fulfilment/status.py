"""The status object: what a shop's pipeline may say about an order it is preparing.

Optional, one small JSON object beside the order's files, named ``_status.json`` after the
order's prefix (``<OrderID>/_status.json`` with the default ``PORTAL_S3_PREFIX``)::

    {"state": "processing",                      # queued | processing | failed | done
     "updated_at": "2026-11-23T14:05:00+09:00",  # when the pipeline wrote this
     "ready_by": "2026-11-23T18:00:00+09:00",    # optional: the shop's own estimate
     "message": {"ja": "…", "en": "…"}}          # optional, shown to the buyer

The portal never lists it as a file. A malformed object is ignored (and logged), so a
pipeline bug never becomes an error page for the buyer.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import UTC, datetime

#: The status object's name, after the order's key prefix.
STATUS_OBJECT_NAME = "_status.json"
#: Larger objects are not read: a status is a few hundred bytes.
MAX_STATUS_BYTES = 8192
#: Longest customer-facing message shown, per language.
MAX_MESSAGE_LENGTH = 500


class FulfilmentState(enum.Enum):
    """Where the pipeline says it is with an order."""

    QUEUED = "queued"
    PROCESSING = "processing"
    FAILED = "failed"
    DONE = "done"


class InvalidStatus(ValueError):
    """The status object is not in the documented format; ``str()`` says why."""


@dataclass(frozen=True)
class FulfilmentStatus:
    """A parsed status object."""

    state: FulfilmentState
    updated_at: datetime | None = None
    ready_by: datetime | None = None
    #: The customer-facing message by language (``"*"``: the same in every language).
    messages: tuple[tuple[str, str], ...] = ()

    def message(self, language: str) -> str | None:
        """The pipeline's message for the buyer in ``language``, if it wrote one."""
        by_language = dict(self.messages)
        return by_language.get(language) or by_language.get("*")


def parse_status(body: bytes) -> FulfilmentStatus:
    """Read a status object, or raise :class:`InvalidStatus` naming what is wrong."""
    if len(body) > MAX_STATUS_BYTES:
        raise InvalidStatus(f"larger than {MAX_STATUS_BYTES} bytes")
    try:
        data = json.loads(body)
    except ValueError:
        raise InvalidStatus("not JSON") from None
    if not isinstance(data, dict):
        raise InvalidStatus("not a JSON object")
    try:
        state = FulfilmentState(data.get("state"))
    except ValueError:
        allowed = ", ".join(s.value for s in FulfilmentState)
        raise InvalidStatus(f"state must be one of {allowed}") from None
    return FulfilmentStatus(
        state=state,
        updated_at=_time(data, "updated_at"),
        ready_by=_time(data, "ready_by"),
        messages=_messages(data.get("message")),
    )


def _time(data: dict[str, object], name: str) -> datetime | None:
    """An ISO 8601 time with its offset (``Z`` or ``+09:00``), or Unix seconds."""
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise InvalidStatus(f"{name} is not an ISO 8601 time") from None
        if moment.tzinfo is None:
            raise InvalidStatus(f"{name} needs a time zone (Z or +09:00)")
        return moment.astimezone(UTC)
    raise InvalidStatus(f"{name} must be an ISO 8601 time or Unix seconds")


def _messages(value: object) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        pairs = {"*": value}
    elif isinstance(value, dict):
        pairs = {str(k): v for k, v in value.items()}
    else:
        raise InvalidStatus("message must be a string or an object of languages")
    messages = []
    for language, text in sorted(pairs.items()):
        if not isinstance(text, str):
            raise InvalidStatus("each message must be a string")
        text = " ".join(text.split())
        if len(text) > MAX_MESSAGE_LENGTH:
            raise InvalidStatus(f"a message is longer than {MAX_MESSAGE_LENGTH} characters")
        if text:
            messages.append((language, text))
    return tuple(messages)
