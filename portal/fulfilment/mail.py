"""The buyer's mail when an order's files are ready (optional: ``PORTAL_MAIL_FROM``).

Sent by ``portal watch``, at most once per order (claimed in the shared cache), and only
for files that appeared after mail was switched on, so turning it on does not mail every
past buyer. In Japanese and English (the shop's language first), with the shop's name and
a link to the order page, never to a file: downloads stay behind the buyer's login.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from email.utils import parseaddr
from typing import Protocol

from portal.domain import N_, Deliverable, Order, PortalError
from portal.fulfilment.dedupe import Once
from portal.fulfilment.language import catalog
from portal.shop import Shop

log = logging.getLogger(__name__)

_SUBJECT = N_("[%(shop)s] The files of your order %(order_id)s are ready")
_BODY = N_(
    "Thank you for your order at %(shop)s.\n"
    "The files of your order %(order_id)s are ready. You can download them on your order's"
    " page after logging in:\n%(link)s"
)
_FOOTER = N_("This mail was sent once, when your files were ready.")


class MailNotSent(PortalError):
    """The mail service did not take the mail; ``str()`` names the cause."""


class Mailer(Protocol):
    """Where mail goes (SES)."""

    def send(self, to: str, subject: str, text: str) -> None:
        """Send one mail or raise ``MailNotSent``."""


@dataclass(frozen=True)
class ReadyMail:
    """One "your files are ready" mail."""

    to: str
    subject: str
    text: str


class ReadyMails:
    """Composes and sends the mails, once per order."""

    def __init__(
        self,
        mailer: Mailer,
        once: Once,
        *,
        sender: str,
        public_url: str,
        locale: str,
        shop: Shop | None = None,
    ) -> None:
        self._mailer = mailer
        self._once = once
        self._shop = shop or Shop()
        self._fallback_name = parseaddr(sender)[0] or public_url.split("://", 1)[-1]
        self._public_url = public_url
        self._locale = locale
        self._since: datetime | None = None

    def begin(self) -> datetime:
        """When mail was switched on (the first run that had it on): files ready before
        then are not mailed. Call at the start of each run."""
        self._since = self._once.since("mail:enabled")
        return self._since

    def compose(self, order: Order) -> ReadyMail:
        """The mail for ``order``: the shop's language first, then the other."""
        link = f"{self._public_url}/orders/{order.session_id}"
        languages = [self._locale] + [x for x in ("ja", "en") if x != self._locale]
        blocks = [
            catalog(lang).gettext(_BODY) % self._values(order, link, lang)
            + "\n\n"
            + catalog(lang).gettext(_FOOTER)
            for lang in languages
        ]
        subject = catalog(self._locale).gettext(_SUBJECT) % self._values(order, link, self._locale)
        return ReadyMail(order.email, subject, "\n\n----\n\n".join(blocks) + "\n")

    def _values(self, order: Order, link: str, language: str) -> dict[str, str]:
        shop = self._shop.name(language) or self._fallback_name
        return {"shop": shop, "order_id": order.number, "link": link}

    def maybe_send(self, order: Order, files: tuple[Deliverable, ...]) -> bool:
        """Mail the buyer if this is the first time their files are seen ready since mail
        was switched on. Returns whether a mail went out; a failed send is retried by the
        next run."""
        if not order.email or not files:
            return False
        since = self._since or self.begin()
        if min(f.last_modified for f in files) < since:
            return False  # ready before mail was switched on
        key = f"mail:ready:{order.session_id}"
        if not self._once.claim(key):
            return False
        mail = self.compose(order)
        try:
            self._mailer.send(mail.to, mail.subject, mail.text)
        except MailNotSent as exc:
            self._once.release(key)
            log.error("ready mail for order %s not sent: %s", order.order_id, exc)
            return False
        return True
