"""Who the customer is: the ID token's claims, filled in from userinfo, and the email
evidence each kind of provider gives.

Orders are found by email, so an email the provider has not verified would show someone
else's orders. The default trusts only ``email_verified`` (JSON ``true`` or, as Cognito's
userinfo sends it, the string ``"true"``). ``PORTAL_OIDC_EMAIL_TRUST`` widens that for
providers that never send it, each option named for what it trusts (see README).
"""

from __future__ import annotations

from typing import Any

from portal.auth.refusals import LoginRefused

#: Claims that vouch for the email: taken from userinfo only along with its email.
_EVIDENCE = ("email_verified", "xms_edov")


def needs_userinfo(claims: dict[str, Any], trust: str) -> bool:
    """Whether the ID token lacks the email or the evidence ``trust`` looks at."""
    if not _email(claims):
        return True
    if trust == "provider":
        return False
    return not any(name in claims for name in _EVIDENCE)


def merged(id_claims: dict[str, Any], userinfo: dict[str, Any] | None) -> dict[str, Any]:
    """The ID token's claims, with userinfo filling only what the token lacks.

    Userinfo from another subject is refused (OIDC Core 5.3.2). Evidence about an email
    (``email_verified``, ``xms_edov``) is taken from userinfo only when userinfo's email
    is the one that ends up used, so one source's verdict never vouches for the other's
    address.
    """
    if userinfo is None:
        return dict(id_claims)
    if userinfo.get("sub") != id_claims.get("sub"):
        raise LoginRefused("token", "userinfo sub differs from the ID token's sub")
    result = dict(id_claims)
    for name, value in userinfo.items():
        if name not in result and name not in _EVIDENCE:
            result[name] = value
    if _email(result) == _email(userinfo):
        for name in _EVIDENCE:
            if name not in id_claims and name in userinfo:
                result[name] = userinfo[name]
    return result


def verified_email(claims: dict[str, Any], trust: str) -> str:
    """The email the provider vouches for, or :class:`LoginRefused` saying what is missing."""
    email = _email(claims)
    if email is None:
        raise LoginRefused("email_missing", "neither the ID token nor userinfo has an email")
    if _is_true(claims.get("email_verified")):
        return email
    if trust == "xms_edov" and claims.get("xms_edov") is True:
        return email
    if trust == "provider":
        return email
    if "email_verified" in claims:
        detail = f"email_verified is {claims['email_verified']!r}"
    else:
        detail = "no email_verified claim"
        if "xms_edov" in claims:
            detail += " (xms_edov present: see PORTAL_OIDC_EMAIL_TRUST=xms_edov)"
    raise LoginRefused("email_unverified", f"{detail} (PORTAL_OIDC_EMAIL_TRUST={trust})")


def _is_true(value: object) -> bool:
    # JSON true, or Cognito userinfo's string "true"; never 1, "True" or "yes".
    return value is True or value == "true"


def _email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    # ASCII whitespace only: other spaces are part of the address (domain.normalize_email).
    email = email.strip(" \t\r\n\f\v") if isinstance(email, str) else None
    return email or None
