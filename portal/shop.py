"""Who the buyer is dealing with: the shop's name, logo, contact and legal pages.

Shown in the header and footer of every page (error pages and print included), and as
「この注文について問い合わせる」 on each order. Every part is optional: without a name the
header says 「注文ポータル」, without a contact no contact link is shown.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from flask import Blueprint, Flask, Response, abort, current_app, request
from flask_babel import get_locale
from flask_babel import gettext as _

from portal.shop_setting_values import LOGO_TYPES

#: An SVG opened on its own must not run script in the portal's origin.
LOGO_POLICY = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

bp = Blueprint("shop", __name__)


@dataclass(frozen=True)
class Shop:
    """The shop's identity as its settings give it (``PORTAL_SHOP_*``)."""

    name_ja: str | None = None
    name_en: str | None = None
    logo: Path | None = None
    support_email: str | None = None
    support_url: str | None = None
    #: 特定商取引法に基づく表記 (the legal notice Japanese law asks online shops for).
    legal_notice_url: str | None = None
    privacy_url: str | None = None

    def name(self, language: str) -> str | None:
        """The shop's name in ``language``, else in the other one, else ``None``."""
        preferred, other = (
            (self.name_en, self.name_ja) if language == "en" else (self.name_ja, self.name_en)
        )
        return preferred or other

    @property
    def has_contact(self) -> bool:
        """Whether a buyer can be told how to reach the shop."""
        return bool(self.support_url or self.support_email)

    def contact_about(self, order_number: str, subject: str) -> str | None:
        """Where to ask about one order: the contact URL with ``order=<number>`` added,
        else a ``mailto:`` with ``subject`` and the number in the body's first line."""
        if self.support_url:
            return _with_query(self.support_url, {"order": order_number})
        if self.support_email:
            query = urlencode({"subject": subject, "body": subject + "\n\n"}, quote_via=quote)
            return f"mailto:{self.support_email}?{query}"
        return None


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(extra)) if q)
    return urlunsplit(parts._replace(query=query))


@dataclass(frozen=True)
class _Logo:
    body: bytes
    mimetype: str
    etag: str


def install(app: Flask, shop: Shop) -> None:
    """Serve the logo from the portal's own origin and give every template the shop."""
    if shop.logo is not None:
        body = shop.logo.read_bytes()
        mimetype = LOGO_TYPES[shop.logo.suffix.lower()]
        app.extensions["portal.shop_logo"] = _Logo(
            body, mimetype, hashlib.sha256(body).hexdigest()[:16]
        )
    app.extensions["portal.shop"] = shop
    app.context_processor(_shop_context)
    app.register_blueprint(bp)


def _shop_context() -> dict[str, object]:
    shop: Shop = current_app.extensions["portal.shop"]
    logo: _Logo | None = current_app.extensions.get("portal.shop_logo")
    return {
        "shop": shop,
        # The header's name: the shop's in the page's language, else the portal's own.
        "shop_name": shop.name(str(get_locale() or "")) or _("Order Portal"),
        "shop_logo_version": logo.etag if logo else None,
    }


@bp.get("/shop/logo")
def logo() -> Response:
    """The shop's logo, cacheable (its URL carries a version), never run as a page."""
    found: _Logo | None = current_app.extensions.get("portal.shop_logo")
    if found is None:
        abort(404)
    if request.if_none_match.contains(found.etag):
        response = Response(status=304)
    else:
        response = Response(found.body, mimetype=found.mimetype)
    response.set_etag(found.etag)
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["Content-Security-Policy"] = LOGO_POLICY
    return response
