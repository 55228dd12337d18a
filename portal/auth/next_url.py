"""Where a login may send the browser back to: only paths on this site."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a same-site relative path, else ``None``.

    Refuses absolute URLs, scheme-relative ``//host``, and ``/\\host`` (which browsers
    read as ``//host``), as well as control characters that could split a header.
    """
    if not value or len(value) > 2000 or not value.startswith("/"):
        return None
    if value.startswith(("//", "/\\")) or "\\" in value:
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return None
    return value
