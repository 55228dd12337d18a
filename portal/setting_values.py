"""What each setting may be: one parser per kind of value, raising ``ValueError``.

A parser's message says what is wrong with a value, never the value itself (it may be a
secret); ``portal.settings`` adds the setting's name. The OpenID provider's settings are
parsed in ``portal.oidc_setting_values``, the shop's identity, receipts and tax in
``portal.shop_setting_values``.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import datetime
from email.utils import parseaddr
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from portal.redis_client import parse_sentinel_url

#: The languages the portal has message catalogs for.
LOCALES = ("ja", "en")


def locale(raw: str) -> str:
    if raw not in LOCALES:
        raise ValueError(f"must be one of {', '.join(LOCALES)}")
    return raw


def timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("must be an IANA time zone name such as Asia/Tokyo") from None
    return raw


def non_blank(raw: str) -> str:
    return raw


def secret_key(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters of random text")
    return raw


def base_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query or fragment")
    return raw.rstrip("/")


def stripe_key(raw: str) -> str:
    if not re.fullmatch(r"(sk|rk)_(test|live)_[A-Za-z0-9]+", raw):
        raise ValueError("must be a Stripe secret or restricted key (sk_… or rk_…)")
    return raw


def webhook_secrets(raw: str) -> tuple[str, ...]:
    secrets = tuple(s.strip() for s in raw.split(",") if s.strip())
    if not secrets or not all(re.fullmatch(r"whsec_[A-Za-z0-9+/=_-]+", s) for s in secrets):
        raise ValueError("must be one or more comma-separated Stripe signing secrets (whsec_…)")
    return secrets


def bucket(raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", raw):
        raise ValueError("must be an S3 bucket name")
    return raw


def prefix_template(raw: str) -> str:
    fields = [f for _, f, _, _ in string.Formatter().parse(raw) if f is not None]
    if fields != ["order_id"]:
        raise ValueError("must contain {order_id} exactly once and no other {fields}")
    if raw.startswith("/") or ".." in raw:
        raise ValueError("must be a relative key prefix without '..'")
    if not raw.endswith("/"):
        # Else order A-1's prefix would also list the files of A-10, A-11, ...
        raise ValueError("must end with '/' (one folder per order)")
    return raw


def order_id_pattern(raw: str) -> str:
    try:
        pattern = re.compile(raw)
    except re.error:
        raise ValueError("must be a regular expression your OrderIDs match in full") from None
    if len(raw) > 200 or pattern.fullmatch(""):
        raise ValueError("must be a regular expression that no empty OrderID matches")
    return raw


def aware_datetime(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError("must be an ISO 8601 time such as 2026-12-01T00:00+09:00") from None
    if value.tzinfo is None:
        raise ValueError("must say its UTC offset, such as 2026-12-01T00:00+09:00")
    return value


def cache_url(raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if raw == "memory://" or (scheme == "file" and len(raw) > len("file:///")):
        return raw
    if scheme in ("redis", "rediss", "unix") and urlsplit(raw).netloc + urlsplit(raw).path:
        return raw
    if scheme == "redis+sentinel":
        parse_sentinel_url(raw)  # its ValueError says what is wrong
        return raw
    raise ValueError(
        "must be redis://host:port/db, rediss://…, "
        "redis+sentinel://host:26379[,host2:26379…]/service[/db], file:///dir or memory://"
    )


def listen_address(raw: str) -> str | None:
    """``host:port`` to listen on, or ``off``."""
    if raw.lower() == "off":
        return None
    host, _, port = raw.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("must be host:port (such as 127.0.0.1:9464) or off")
    return raw


def eventbridge_bus(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._/\-]{1,256}|arn:aws[a-z-]*:events:[^\s]+", raw):
        raise ValueError("must be an EventBridge bus name or ARN")
    return raw


def sns_topic(raw: str) -> str:
    if not re.fullmatch(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}", raw):
        raise ValueError("must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    return raw


def webhook_secret(raw: str) -> str:
    secrets = webhook_secrets(raw)
    if len(secrets) != 1:
        raise ValueError("must be the endpoint's one Stripe signing secret (whsec_…)")
    return secrets[0]


def mail_sender(raw: str) -> str:
    _name, address = parseaddr(raw)
    if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", address):
        raise ValueError("must be an address SES may send from: Shop <orders@shop.example.jp>")
    return raw


def order_id_key(raw: str) -> bytes:
    if len(raw) < 32:
        raise ValueError("must be at least 32 characters of random text")
    return raw.encode()


def payment_links(raw: str) -> tuple[tuple[str, str], ...]:
    links = []
    for pair in raw.replace(",", " ").split():
        name, _, url = pair.partition("=")
        if not re.fullmatch(r"[a-z0-9-]{1,40}", name) or not url:
            raise ValueError("must be name=https://buy.stripe.com/… pairs (names: a-z 0-9 -)")
        links.append((name, base_url(url)))
    return tuple(links)


def boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no"):
        raise ValueError("must be true or false")
    return value in ("true", "1", "yes")


#: Longest HSTS lifetime accepted (two years, as the preload list asks for at most).
HSTS_MAX_AGE = 63072000


def hsts(raw: str) -> str:
    """``max-age=N`` then optionally ``includeSubDomains`` and ``preload``, as sent."""
    parts = [part.strip() for part in raw.split(";") if part.strip()]
    age = re.fullmatch(r"max-age=(\d{1,9})", parts[0]) if parts else None
    flags = parts[1:]
    if (
        age is None
        or int(age.group(1)) > HSTS_MAX_AGE
        or len(set(flags)) != len(flags)
        or not set(flags) <= {"includeSubDomains", "preload"}
        or ("preload" in flags and "includeSubDomains" not in flags)
    ):
        raise ValueError(
            "must be max-age=<seconds, at most 63072000>, then optionally "
            "; includeSubDomains and ; preload (preload needs includeSubDomains)"
        )
    return "; ".join(parts)


def int_between(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"must be a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return parse
