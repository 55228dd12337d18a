"""A customer's complete Checkout Sessions, read from Stripe's lists.

Checkout Sessions cannot be searched, only listed, and the ``customer_details[email]``
filter is exact and case-sensitive: each spelling of the email (:func:`spellings_of`) is a
list of its own. The lists are read side by side and merged by session id; each is paged
lazily, only as far as the caller needs. A date range is pushed down to Stripe as
``created[gte]``/``created[lte]``, so a dated view costs calls for that range only. A
deadline stops new pages from starting, and the caller learns the read was cut short.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from portal.emails import ASCII_WHITESPACE, normalize_email
from portal.stripe.client import Json
from portal.stripe.parallel import run_all

#: Stripe's largest page; one list call covers two portal pages.
STRIPE_PAGE_LIMIT = 100
#: Spellings of one email asked for (two at a time: at most one extra round trip).
MAX_SPELLINGS = 4

#: ``fetch(params)``: one list call's answer.
Fetch = Callable[[Any], Json]


@dataclass(frozen=True)
class Listing:
    """What the lists gave: the newest sessions first, merged across spellings."""

    sessions: list[Json]
    #: Stripe has more sessions beyond those read.
    more: bool
    #: The deadline passed before everything asked for was read.
    cut_short: bool


@dataclass(frozen=True)
class Created:
    """A range of ``created`` times: from ``start`` (inclusive) to ``end`` (exclusive)."""

    start: datetime | None = None
    end: datetime | None = None

    def params(self) -> Json:
        """The range as Stripe's ``created`` list filter (whole seconds, inclusive)."""
        bounds: Json = {}
        if self.start is not None:
            bounds["gte"] = int(self.start.timestamp())
        if self.end is not None:
            bounds["lte"] = int(self.end.timestamp()) - 1
        return {"created": bounds} if bounds else {}

    @property
    def key(self) -> str:
        """A short name of the range for cache keys (``""`` for any time)."""
        bounds = self.params().get("created", {})
        return f":{bounds.get('gte', '')}-{bounds.get('lte', '')}" if bounds else ""


#: No ``created`` filter: every session.
ANY_TIME = Created()


def spellings_of(email: str, learned: Sequence[str] = ()) -> list[str]:
    """The spellings of ``email`` to ask Stripe for, at most ``MAX_SPELLINGS``.

    Buyers type their email in many cases (phones capitalise the first letter). Always
    asked: as given, in the portal's one normal form (``portal.emails``: never a Unicode
    case folding, which would ask for another customer's address), and with its first
    letter an ASCII capital; then ``learned`` ones.
    """
    given = email.strip(ASCII_WHITESPACE)
    lower = normalize_email(email)
    capitalised = lower[:1].upper() + lower[1:] if lower[:1].isascii() else lower
    unique = dict.fromkeys([given, lower, capitalised, *learned])
    return list(unique)[:MAX_SPELLINGS]


def newest_sessions(
    fetch: Fetch,
    email: str,
    count: int,
    *,
    learned: Sequence[str] = (),
    created: Created = ANY_TIME,
    deadline: float | None = None,
) -> Listing:
    """At least the newest ``count`` complete sessions of ``email`` (every spelling), read
    side by side; no page starts after ``deadline`` (``time.monotonic()``)."""
    sources = [
        _Source(fetch, spelling, created.params()) for spelling in spellings_of(email, learned)
    ]
    found = run_all([partial(source.first, count, deadline) for source in sources])
    merged = {session["id"]: session for listed in found for session in listed}
    ordered = sorted(merged.values(), key=lambda s: (-int(s["created"]), s["id"]))
    return Listing(
        sessions=ordered,
        more=any(source.has_more for source in sources),
        cut_short=any(source.cut_short for source in sources),
    )


@dataclass
class _Source:
    """A lazily paged Stripe list of one spelling's complete sessions."""

    fetch: Fetch
    email: str
    filters: Json
    has_more: bool = True
    cut_short: bool = False
    _seen: list[Json] = field(default_factory=list)

    def first(self, count: int, deadline: float | None) -> list[Json]:
        """At least the first ``count`` sessions (all read so far), reading only the pages
        that needs. Returning the surplus tells the caller whether another page exists."""
        while len(self._seen) < count and self.has_more:
            if deadline is not None and self._seen and time.monotonic() >= deadline:
                self.cut_short = True
                break
            page = self.fetch(self._params())
            self._seen.extend(page["data"])
            self.has_more = bool(page.get("has_more")) and bool(page["data"])
        return self._seen

    def _params(self) -> Json:
        params: Json = {
            "customer_details": {"email": self.email},
            "status": "complete",
            "limit": STRIPE_PAGE_LIMIT,
            # Receipts and vouchers come in the same call: 3 of Stripe's 4 expansion levels;
            # line-item taxes (includable only) take all 4.
            "expand": [
                "data.line_items",
                "data.line_items.data.taxes",
                "data.shipping_cost.taxes",
                "data.payment_intent.latest_charge",
            ],
            **self.filters,
        }
        if self._seen:
            params["starting_after"] = self._seen[-1]["id"]
        return params
