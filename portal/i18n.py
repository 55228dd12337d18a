"""Japanese and English: which language a page is in, and dates and money written its way.

The language is, in order: the one picked with the header's switcher (a cookie), the
browser's ``Accept-Language``, else ``PORTAL_DEFAULT_LOCALE``. Dates and times are shown
in ``PORTAL_TIMEZONE`` whatever the language, because that is where the shop is.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from babel import Locale
from babel.dates import get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import (
    Babel,
    format_currency,
    format_date,
    format_time,
    get_locale,
    get_timezone,
)
from flask_babel import gettext as _
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from portal.auth.next_url import safe_next
from portal.domain import Money
from portal.settings import LOCALES, Settings

#: Where the ``.po`` catalogs live; ``make`` compiles them to ``.mo`` next to them.
TRANSLATIONS = Path(__file__).parent / "translations"
COOKIE = "portal_lang"
COOKIE_MAX_AGE = 365 * 24 * 3600
#: Each language's name in itself, for the switcher.
LANGUAGE_NAMES = {"ja": "日本語", "en": "English"}

bp = Blueprint("i18n", __name__)
log = logging.getLogger(__name__)


def install(app: Flask, settings: Settings) -> None:
    """Attach flask-babel, the template filters and the language switcher to ``app``."""
    ensure_compiled()
    app.config.update(
        BABEL_DEFAULT_LOCALE=settings.default_locale,
        BABEL_DEFAULT_TIMEZONE=settings.timezone,
        BABEL_TRANSLATION_DIRECTORIES=str(TRANSLATIONS),
    )
    Babel(app, locale_selector=select_locale)
    app.jinja_env.filters.update(money=money, when=when, day=day, clock=clock)
    app.context_processor(_language_context)
    app.register_blueprint(bp)


def ensure_compiled(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile any catalog whose ``.mo`` is missing or older than its ``.po``.

    ``make`` compiles them on install; this covers an install that skipped it (``pip
    install .`` from a clean clone), where a Japanese shop would otherwise get English.
    Returns the catalogs it compiled.
    """
    compiled = []
    for source in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        target = source.with_suffix(".mo")
        if target.exists() and target.stat().st_mtime >= source.stat().st_mtime:
            continue
        with source.open("rb") as po:
            catalog = read_po(po)
        try:
            with target.open("wb") as mo:
                write_mo(mo, catalog)
        except OSError as exc:
            log.error("cannot compile %s (%s): run `make` where it is writable", source, exc)
            continue
        compiled.append(target)
    return compiled


def select_locale() -> str:
    """The switcher's choice, else the browser's best match, else the shop's default."""
    chosen = request.cookies.get(COOKIE)
    if chosen in LOCALES:
        return chosen
    best = request.accept_languages.best_match(LOCALES)
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]


@bp.get("/language/<code>")
def switch(code: str) -> Response:
    """Remember the language for a year and go back to the page the switch was on."""
    if code not in LOCALES:
        abort(404)
    target = safe_next(request.args.get("next")) or url_for("main.index")
    response = redirect(target)
    response.set_cookie(
        COOKIE,
        code,
        max_age=COOKIE_MAX_AGE,
        secure=request.is_secure,
        httponly=True,
        samesite="Lax",
    )
    return response


def money(amount: Money | None) -> str:
    """``￥5,000`` (ja) or ``¥5,000`` (en) for 5000 JPY: Babel, from Stripe's minor units."""
    if amount is None:
        return ""
    return str(format_currency(amount.value, amount.currency.upper()))


def when(moment: datetime | None) -> Markup:
    """A date and time in the shop's zone, as the page's language writes it, in ``<time>``."""
    if moment is None:
        return Markup("")
    text = _date_time_pattern().format(format_time(moment, "short"), format_date(moment, "medium"))
    return _time_element(moment, text)


def day(moment: datetime | None) -> Markup:
    """Only the date, in the shop's zone."""
    if moment is None:
        return Markup("")
    return _time_element(moment, format_date(moment, "medium"))


def clock(moment: datetime | None) -> Markup:
    """Only the time of day, in the shop's zone."""
    if moment is None:
        return Markup("")
    return _time_element(moment, format_time(moment, "short"))


def _time_element(moment: datetime, text: str) -> Markup:
    return Markup('<time datetime="{}">{}</time>').format(moment.isoformat(), escape(text))


def _date_time_pattern() -> str:
    locale = get_locale() or Locale.parse(current_app.config["BABEL_DEFAULT_LOCALE"])
    pattern: str = locale.datetime_formats["medium"]
    return pattern.replace("'", "")


def _language_context() -> dict[str, object]:
    locale = get_locale()
    current = str(locale.language) if locale else current_app.config["BABEL_DEFAULT_LOCALE"]
    here = request.full_path.rstrip("?") if request else "/"
    switches = [
        {
            "code": code,
            "name": LANGUAGE_NAMES[code],
            "url": url_for("i18n.switch", code=code, next=here),
            "current": code == current,
        }
        for code in LOCALES
    ]
    return {"page_language": current, "language_switches": switches, "zone_name": _zone_name()}


def _zone_name() -> str:
    zone = get_timezone()
    key = str(getattr(zone, "key", zone))
    # CLDR has no name for UTC itself ("Unknown Region (UTC) Time"): say UTC.
    name = "UTC" if key in _UTC_KEYS else get_timezone_name(zone, locale=get_locale())
    return _("Times are in %(zone)s.", zone=name)


_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Zulu"})
