"""Parsers for the shop's own settings: its identity on the pages (name, logo, contact
links, order numbers) and its receipts and consumption tax.

As in ``portal.setting_values``: a message says what is wrong, never the value.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

#: Where Debian and Ubuntu put a Japanese TrueType font (fonts-ipaexfont-gothic provides
#: the first, as an alternative other Japanese font packages may also provide).
JAPANESE_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
    "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",
)
_TRUETYPE_MAGIC = (b"\x00\x01\x00\x00", b"true")


def truetype_font(raw: str) -> str:
    """A TrueType font file (reportlab embeds TrueType outlines, not CFF/OpenType ones)."""
    try:
        with open(raw, "rb") as font:
            magic = font.read(4)
    except OSError:
        raise ValueError("must be the path of a readable TrueType font file (.ttf)") from None
    if magic not in _TRUETYPE_MAGIC:
        raise ValueError(
            "must be a TrueType font (.ttf with TrueType outlines), such as IPAexGothic"
        )
    return raw


def registration_number(raw: str) -> str:
    """``T`` and 13 digits: a 適格請求書発行事業者登録番号 (its check digit is checked with
    the issuer's kind, in ``Settings``)."""
    if not re.fullmatch(r"T[1-9][0-9]{12}", raw):
        raise ValueError("must be T followed by 13 digits (適格請求書発行事業者登録番号)")
    return raw


def corporate_check_digit_ok(number: str) -> bool:
    """Whether the first of 13 digits is the 法人番号's check digit of the other twelve.

    The National Tax Agency's formula: ``9 - (sum of P(n) * Q(n) mod 9)``, with ``P(n)``
    the n-th digit counted from the right of the twelve and ``Q(n)`` 1 for odd n, 2 for
    even n. A corporation's registration number is ``T`` + its 法人番号; the numbers of
    sole proprietors have no published check digit.
    """
    digits = [int(d) for d in number[-12:]]
    weighted = sum(d * (1 if n % 2 else 2) for n, d in enumerate(reversed(digits), start=1))
    return int(number[-13]) == 9 - weighted % 9


ISSUER_KINDS = ("corporation", "other")


def issuer_kind(raw: str) -> str:
    if raw not in ISSUER_KINDS:
        raise ValueError("must be corporation (has a 法人番号) or other (sole proprietor, …)")
    return raw


def tax_rate(raw: str) -> Decimal:
    """A Japanese consumption tax rate in percent: 10, 8 (reduced) or 0 (not taxed)."""
    value = raw.removesuffix("%").strip()
    if value not in ("10", "8", "0"):
        raise ValueError("must be 10, 8 or 0 (percent)")
    return Decimal(value)


def product_tax_rates(raw: str) -> tuple[tuple[str, Decimal], ...]:
    """``prod_A=8 prod_B=10``: Stripe product ids with their rates."""
    rates = []
    for pair in raw.replace(",", " ").split():
        product, _, rate = pair.partition("=")
        if not re.fullmatch(r"prod_[A-Za-z0-9]{1,60}", product):
            raise ValueError("must be prod_…=10 or prod_…=8 pairs (Stripe product ids)")
        rates.append((product, tax_rate(rate)))
    return tuple(rates)


def single_line(max_length: int) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if len(raw) > max_length or any(ch in raw for ch in "\r\n\t"):
            raise ValueError(f"must be one line of at most {max_length} characters")
        return raw

    return parse


def shop_name(raw: str) -> str:
    if len(raw) > 80 or any(ord(c) < 32 for c in raw):
        raise ValueError("must be one line of at most 80 characters")
    return raw


def email(raw: str) -> str:
    if not re.fullmatch(r"[^@\s<>\"(),;:]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}", raw):
        raise ValueError("must be an email address such as support@example.jp")
    return raw


def page_url(raw: str) -> str:
    """A page the buyer is sent to (it may carry a query, never a fragment)."""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ValueError("must be an absolute http:// or https:// URL without a #fragment")
    return raw


#: Logo files a browser shows in ``<img>``, by suffix, and the largest one served.
LOGO_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}
MAX_LOGO_BYTES = 512 * 1024


def logo_file(raw: str) -> Path:
    path = Path(raw).expanduser()
    if path.suffix.lower() not in LOGO_TYPES:
        raise ValueError(f"must be an image file ({', '.join(sorted(LOGO_TYPES))})")
    try:
        size = path.stat().st_size
        with path.open("rb"):
            pass
    except OSError:
        raise ValueError("is not a readable file") from None
    if not path.is_file() or not 0 < size <= MAX_LOGO_BYTES:
        raise ValueError(f"must be a file of at most {MAX_LOGO_BYTES // 1024} KiB")
    return path


def order_number_pattern(raw: str) -> str:
    try:
        compiled = re.compile(raw)
    except re.error:
        raise ValueError("must be a regular expression (Python syntax)") from None
    if compiled.groups and "number" not in compiled.groupindex:
        raise ValueError("must name the shown part (?P<number>…) when it has groups")
    return raw
