"""What each setting may be: one parser per kind of value, raising ``ValueError``.

A parser's message says what is wrong with a value, never the value itself (it may be a
secret); ``portal.settings`` adds the setting's name.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from email.utils import parseaddr
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from portal.redis_client import parse_sentinel_url

#: Signing algorithms a shop may allow for ID tokens. ``none`` is absent (no signature),
#: and so is the HMAC family but HS256: LINE Login signs web logins with it, keyed with the
#: channel secret, which the portal accepts only when the shop lists it (see README).
KNOWN_ID_TOKEN_ALGORITHMS = frozenset(
    {
        *("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
        *("ES256", "ES384", "ES512", "EdDSA", "HS256"),
    }
)

#: ``PORTAL_OIDC_EMAIL_TRUST``: what the portal accepts as proof that an email is verified.
EMAIL_TRUST = ("email_verified", "xms_edov", "provider")

#: ``PORTAL_OIDC_TOKEN_AUTH_METHOD``: how the portal proves who it is at the token
#: endpoint: the client secret (Basic or in the body), or a JWT signed with its private key.
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")

#: ``PORTAL_OIDC_ASSERTION_AUDIENCE``: the ``aud`` of a ``private_key_jwt`` assertion.
ASSERTION_AUDIENCES = ("token_endpoint", "issuer")

#: The client keys ``private_key_jwt`` signs with: RSA (RS256) or EC P-256 (ES256).
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

#: Largest key file read (a PEM private key is a few KiB at most).
_MAX_KEY_FILE_BYTES = 64 * 1024

#: Entra ID's issuers that stand for many tenants: ``xms_edov`` proves nothing there.
_MULTI_TENANT = re.compile(r"/(common|organizations|consumers)(/|$)|\{tenantid\}", re.I)


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


def issuer(raw: str) -> str:
    """An issuer exactly as the provider writes it: a trailing ``/`` is part of it."""
    base_url(raw)
    return raw


def single_tenant_issuer(value: str) -> bool:
    return not _MULTI_TENANT.search(value)


def email_trust(raw: str) -> str:
    if raw not in EMAIL_TRUST:
        raise ValueError(f"must be one of {', '.join(EMAIL_TRUST)}")
    return raw


def token_auth_method(raw: str) -> str:
    if raw not in TOKEN_AUTH_METHODS:
        raise ValueError(f"must be one of {', '.join(TOKEN_AUTH_METHODS)}")
    return raw


def assertion_audience(raw: str) -> str:
    if raw not in ASSERTION_AUDIENCES:
        raise ValueError(f"must be one of {', '.join(ASSERTION_AUDIENCES)}")
    return raw


def private_key_file(raw: str) -> PrivateKey:
    """The PEM file of the portal's ``private_key_jwt`` key, loaded; a message never
    quotes the file."""
    try:
        with open(raw, "rb") as file:
            data = file.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError:
        raise ValueError("must be the path of a readable PEM private key file") from None
    if len(data) > _MAX_KEY_FILE_BYTES or b"PRIVATE KEY-----" not in data:
        raise ValueError(
            "is not a PEM private key (-----BEGIN PRIVATE KEY-----; "
            "a public key or certificate will not do)"
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise ValueError(
            "is encrypted with a passphrase: give the key unencrypted and protect the file "
            "by its permissions (openssl pkey -in old.pem -out new.pem)"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("is not a PEM private key the portal can read") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ValueError(f"is an RSA key of {key.key_size} bits: use 2048 bits or more")
        return key
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return key
    raise ValueError(
        f"is an unsupported key type ({_key_type(key)}): use RSA (2048 bits or more, "
        "RS256) or EC P-256 (ES256)"
    )


def certificate_file(raw: str) -> x509.Certificate:
    """A PEM X.509 certificate (Entra ID identifies the portal's key by its thumbprint)."""
    try:
        with open(raw, "rb") as file:
            data = file.read(_MAX_KEY_FILE_BYTES + 1)
    except OSError:
        raise ValueError("must be the path of a readable PEM certificate file") from None
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise ValueError(
            "is not a PEM certificate (-----BEGIN CERTIFICATE-----), such as "
            "openssl req -new -x509 -key <key file> -subj /CN=portal -days 730 makes"
        ) from None


def same_public_key(certificate: x509.Certificate, key: PrivateKey) -> bool:
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(der, spki) == key.public_key().public_bytes(
        der, spki
    )


def _key_type(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"EC {key.curve.name}"
    return type(key).__name__.removeprefix("_").removesuffix("PrivateKey") or "unknown"


def logout_url(raw: str) -> str:
    fields = {f for _, f, _, _ in string.Formatter().parse(raw) if f is not None}
    if not fields <= {"client_id", "return_url"}:
        raise ValueError("may only use the placeholders {client_id} and {return_url}")
    example = raw.format(client_id="x", return_url="x")
    parts = urlsplit(example)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
        raise ValueError("must be an absolute http:// or https:// URL without a fragment")
    return raw


def stripe_key(raw: str) -> str:
    if not re.fullmatch(r"(sk|rk)_(test|live)_[A-Za-z0-9]+", raw):
        raise ValueError("must be a Stripe secret or restricted key (sk_… or rk_…)")
    return raw


def webhook_secrets(raw: str) -> tuple[str, ...]:
    secrets = tuple(s.strip() for s in raw.split(",") if s.strip())
    if not secrets or not all(re.fullmatch(r"whsec_[A-Za-z0-9+/=_-]+", s) for s in secrets):
        raise ValueError("must be one or more comma-separated Stripe signing secrets (whsec_…)")
    return secrets


def scopes(raw: str) -> str:
    scopes = raw.split()
    if "openid" not in scopes or "email" not in scopes:
        raise ValueError("must include the 'openid' and 'email' scopes")
    return " ".join(scopes)


def algorithms(raw: str) -> tuple[str, ...]:
    algorithms = tuple(raw.replace(",", " ").split())
    unknown = [a for a in algorithms if a not in KNOWN_ID_TOKEN_ALGORITHMS]
    if unknown:
        allowed = ", ".join(sorted(KNOWN_ID_TOKEN_ALGORITHMS))
        raise ValueError(f"unsupported algorithm {unknown[0]!r} (allowed: {allowed})")
    return algorithms


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
