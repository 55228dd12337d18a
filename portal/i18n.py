"""Japanese and English: which language a page is in, and dates and money written its way.

The language is, in order: the one picked with the header's switcher (a cookie), the
browser's ``Accept-Language``, else ``PORTAL_DEFAULT_LOCALE``. Dates and times are shown
in ``PORTAL_TIMEZONE`` whatever the language, because that is where the shop is.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime, get_timezone_name
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency
from flask import Blueprint, Flask, abort, current_app, redirect, request, url_for
from flask_babel import (
    Babel,
    get_locale,
    get_timezone,
)
from flask_babel import gettext as _
from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from portal.auth.next_url import safe_next
from portal.domain import Money, OrderStatus
from portal.setting_values import LOCALES
from portal.settings import Settings

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
    app.jinja_env.filters.update(
        money=money,
        when=when,
        day=day,
        clock=clock,
        deadline=deadline,
        deadline_day=short_deadline,
        days_left=days_left,
    )
    app.jinja_env.globals["translated_statuses"] = translated_statuses
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
        # From PORTAL_PUBLIC_URL, not this hop's scheme (http behind a TLS proxy).
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        httponly=True,
        samesite="Lax",
    )
    return response


def translated_statuses() -> dict[str, str]:
    """Every order status's label in the page's language, by status value."""
    return {status.value: _(status.label) for status in OrderStatus}


def money(amount: Money | None) -> str:
    """``￥5,000`` (ja) or ``¥5,000`` (en) for 5000 JPY: Babel, from Stripe's minor units."""
    if amount is None:
        return ""
    return _money(amount, _locale_name())


@lru_cache(maxsize=8192)
def _money(amount: Money, locale_name: str) -> str:
    return format_currency(amount.value, amount.currency.upper(), locale=locale_name)


def when(moment: datetime | None) -> Markup:
    """A date and time in the shop's zone, as the page's language writes it, in ``<time>``."""
    return _time_element(moment, "datetime")


def day(moment: datetime | None) -> Markup:
    """Only the date, in the shop's zone."""
    return _time_element(moment, "date")


def clock(moment: datetime | None) -> Markup:
    """Only the time of day, in the shop's zone."""
    return _time_element(moment, "time")


def deadline(moment: datetime | None) -> Markup:
    """A deadline with its weekday, short: ``12/05(金) 23:59`` or ``Fri, Dec 5, 11:59 PM``."""
    return _time_element(moment, "deadline")


def short_deadline(moment: datetime | None) -> Markup:
    """A deadline's day with its weekday: ``12/05(金)`` or ``Fri, Dec 5``."""
    return _time_element(moment, "deadline_day")


def days_left(moment: datetime | None, today: date | None = None) -> str:
    """How many of the shop's days remain until ``moment``: 「あと2日」, 「本日まで」."""
    if moment is None:
        return ""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    today = today or datetime.now(zone).date()
    left = (moment.astimezone(zone).date() - today).days
    if left < 0:
        return _("Deadline passed")
    if left == 0:
        return _("Due today")
    if left == 1:
        return _("1 day left")
    return _("%(days)s days left", days=left)


def _time_element(moment: datetime | None, what: str) -> Markup:
    if moment is None:
        return Markup("")
    zone = current_app.config["BABEL_DEFAULT_TIMEZONE"]
    return Markup(_time_html(moment, what, _locale_name(), zone))  # noqa: S704 (escaped below)


@lru_cache(maxsize=8192)
def _time_html(moment: datetime, what: str, locale_name: str, zone_name: str) -> str:
    # Babel directly, with a pattern made once per language, and remembered: an order
    # list shows the same 50 dates on every view, and formatting them was most of its
    # rendering time (bench/RESULTS.md).
    pattern = _patterns(locale_name)[what]
    text = format_datetime(moment, pattern, tzinfo=ZoneInfo(zone_name), locale=locale_name)
    return f'<time datetime="{escape(moment.isoformat())}">{escape(text)}</time>'


@cache
def _patterns(locale_name: str) -> dict[str, str]:
    """The language's medium date, short time, and the two joined as it joins them."""
    locale = Locale.parse(locale_name)
    day_pattern = locale.date_formats["medium"].pattern
    time = locale.time_formats["short"].pattern
    joined = str(locale.datetime_formats["medium"]).replace("{1}", day_pattern)
    joined = joined.replace("{0}", time)
    # A deadline reads best short and with its weekday: 12/05(金) / Fri, Dec 5.
    weekday_day = "MM/dd(E)" if locale.language == "ja" else "EEE, MMM d"
    return {
        "date": day_pattern,
        "time": time,
        "datetime": joined,
        "deadline_day": weekday_day,
        "deadline": f"{weekday_day} {time}"
        if locale.language == "ja"
        else f"{weekday_day}, {time}",
    }


def page_language() -> str:
    """The page's language: ``ja`` or ``en``."""
    return _locale_name()


def _locale_name() -> str:
    """The page's language (``ja`` or ``en``: the catalogs have no regional variants)."""
    locale = get_locale()
    return str(locale) if locale else str(current_app.config["BABEL_DEFAULT_LOCALE"])


def _language_context() -> dict[str, object]:
    current = _locale_name()
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
    return _("Times are in %(zone)s.", zone=zone_label())


def zone_label() -> str:
    """The shop's zone as the page's language names it: 「日本時間」, "Japan Time"."""
    zone = get_timezone()
    key = str(getattr(zone, "key", zone))
    # CLDR has no name for UTC itself ("Unknown Region (UTC) Time"): say UTC.
    return "UTC" if key in _UTC_KEYS else get_timezone_name(zone, locale=get_locale())


_UTC_KEYS = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT", "Zulu"})
