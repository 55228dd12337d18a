"""The one way the portal compares email addresses.

Orders are found, owned, cached and signed by email, so two spellings may only count as
one address when every system on the way (the identity provider, Stripe, the shop's
fulfilment) would agree. That is true of ASCII letter case and of stray ASCII spaces
around the address, and of nothing else: Python's ``str.lower()`` folds the KELVIN SIGN
(U+212A) onto ``k`` and ``strip()`` removes ideographic spaces and U+0085, which let an
account verified as ``\\u212aen@example.com`` see ken's orders. Such addresses are kept
distinct here, and refused at login (:func:`login_problem`).
"""

from __future__ import annotations

import unicodedata

#: What is trimmed from both ends: ASCII whitespace only (as ``bytes.strip()`` does).
ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalize_email(email: str) -> str:
    """``email`` trimmed of ASCII whitespace, with ASCII letters lower-cased; nothing else.

    The same as ``email.encode().strip().lower().decode()``: the form the shop's own
    code can reproduce in one line (README, *Signed OrderIDs*).
    """
    return email.strip(ASCII_WHITESPACE).translate(_ASCII_LOWER)


def login_problem(email: str) -> str | None:
    """Why a verified email cannot be used to log in, or ``None`` when it can.

    An address holding whitespace or control characters, or letters whose Unicode case
    mapping differs from plain ASCII (KELVIN SIGN U+212A, LONG S U+017F, fullwidth letters), could
    be confused with another customer's address somewhere down the line: it is refused
    with a page that says so, rather than folded onto that customer.
    """
    address = email.strip(ASCII_WHITESPACE)
    for char in address:
        if char.isascii():
            if char.isspace() or not char.isprintable():
                return "whitespace or control character"
            continue
        category = unicodedata.category(char)
        if category.startswith(("Z", "C")):
            return "whitespace or control character"
        if _case_folds_elsewhere(char):
            return "letter whose case mapping differs from ASCII"
    return None


def _case_folds_elsewhere(char: str) -> bool:
    """Whether Unicode case mapping or compatibility folding turns ``char`` into another
    character (so two different addresses could compare equal somewhere)."""
    forms = {char.lower(), char.upper(), char.casefold(), unicodedata.normalize("NFKC", char)}
    return any(form != char and form.isascii() for form in forms) or any(
        form != char and len(form) != 1 for form in forms
    )
