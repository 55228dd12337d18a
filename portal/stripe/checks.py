"""``portal check-stripe``: may the configured key do what the portal does?

One harmless call per permission the portal uses, made with the configured key: reads list
one object or ask for an id that does not exist, writes name an object that does not exist,
so nothing is created or changed. Stripe answers a missing permission with a 403 naming it
(``rak_…``); a 404 or a list means the key may do it. Each permission is required (the
order pages need it) or optional (one feature stops), as the README's permissions table says.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import stripe

from portal.settings import Settings
from portal.stripe.client import make_client
from portal.stripe.errors import describe, missing_permission

#: (level, line) with level ``ok``, ``warn`` or ``fail`` (as in ``portal.auth.checks``).
Finding = tuple[str, str]

#: An id nothing has: asking for it shows whether the key may, and changes nothing.
NOBODY = "portal_permission_check"


@dataclass(frozen=True)
class Permission:
    """One row of the Dashboard's restricted-key form, and how to test it harmlessly."""

    row: str
    access: str
    name: str
    required: bool
    used_for: str
    method: str
    path: str
    params: Any


PERMISSIONS: tuple[Permission, ...] = (
    Permission(
        "Checkout Sessions", "Read", "rak_checkout_session_read", True,
        "every order list, order page and export",
        "get", "/v1/checkout/sessions", {"limit": 1},
    ),
    Permission(
        "PaymentIntents", "Read", "rak_payment_intent_read", True,
        "status, konbini vouchers, bank transfers (expanded in every list)",
        "get", f"/v1/payment_intents/pi_{NOBODY}", {},
    ),
    Permission(
        "Charges", "Read", "rak_charge_read", True,
        "receipts, paid and refunded state (expanded in every list)",
        "get", f"/v1/charges/ch_{NOBODY}", {},
    ),
    Permission(
        "Refunds", "Read", "rak_refund_read", True,
        "each refund on the order page (expanded)",
        "get", "/v1/refunds", {"limit": 1},
    ),
    Permission(
        "Invoices", "Read", "rak_invoice_read", True,
        "invoice links; subscription orders' payment (on the invoice)",
        "get", "/v1/invoice_payments", {"limit": 1},
    ),
    Permission(
        "Disputes", "Read", "rak_dispute_read", False,
        "a disputed order's files follow its dispute",
        "get", "/v1/disputes", {"limit": 1},
    ),
    Permission(
        "Customers", "Read", "rak_customer_read", False,
        "Manage billing: finding the customer by email",
        "get", "/v1/customers/search", {"query": f"email:'{NOBODY}@example.invalid'", "limit": 1},
    ),
    Permission(
        "Payment Links", "Read", "rak_payment_link_read", False,
        "/buy/<name> and portal sign-order-id (the link's id)",
        "get", "/v1/payment_links", {"limit": 1},
    ),
    Permission(
        "Customer portal", "Write", "rak_customer_portal_write", False,
        "Manage billing (a billing portal session)",
        "post", "/v1/billing_portal/sessions", {"customer": f"cus_{NOBODY}"},
    ),
    Permission(
        "PaymentIntents", "Write", "rak_payment_intent_write", False,
        "remembering a receipt's first issue (metadata)",
        "post", f"/v1/payment_intents/pi_{NOBODY}", {"metadata": {NOBODY: ""}},
    ),
    Permission(
        "Invoices", "Write", "rak_invoice_write", False,
        "remembering a subscription receipt's first issue (metadata)",
        "post", f"/v1/invoices/in_{NOBODY}", {"metadata": {NOBODY: ""}},
    ),
)  # fmt: skip


@dataclass(frozen=True)
class Result:
    """What Stripe said to one permission's call."""

    permission: Permission
    #: ``granted``, ``missing`` or ``unknown`` (Stripe did not say: see ``detail``).
    outcome: str
    detail: str = ""

    @property
    def level(self) -> str:
        """``ok``, or for a missing permission ``fail`` (required) or ``warn``."""
        if self.outcome == "granted":
            return "ok"
        return "fail" if self.permission.required or self.outcome == "unknown" else "warn"


def check_permissions(client: stripe.StripeClient) -> list[Result]:
    """Each permission's harmless call, in the table's order."""
    return [_probe(client, permission) for permission in PERMISSIONS]


def _probe(client: stripe.StripeClient, permission: Permission) -> Result:
    try:
        client.raw_request(permission.method, permission.path, **permission.params)
    except stripe.PermissionError as exc:
        named = missing_permission(exc) or permission.name
        return Result(permission, "missing", f"Stripe: the key lacks {named}")
    except stripe.InvalidRequestError as exc:
        if exc.code == "resource_missing":  # allowed, and nothing by that id: as meant
            return Result(permission, "granted")
        return Result(permission, "unknown", describe(exc))
    except stripe.StripeError as exc:
        return Result(permission, "unknown", describe(exc))
    return Result(permission, "granted")


def key_findings(secret_key: str) -> list[Finding]:
    """What kind of key is configured (never the key itself)."""
    mode = "live" if "_live_" in secret_key else "test"
    if secret_key.startswith("rk_"):
        return [("ok", f"a restricted key ({mode} mode)")]
    return [
        (
            "warn",
            f"a full secret key ({mode} mode): it can do anything in the account; a"
            " restricted key with the permissions below is enough",
        )
    ]


def portal_findings(client: stripe.StripeClient) -> list[Finding]:
    """Whether Stripe's billing portal has saved settings in this mode (else it cannot open)."""
    try:
        found = client.raw_request(
            "get", "/v1/billing_portal/configurations", is_default=True, limit=1
        )
    except stripe.StripeError as exc:
        return [("warn", f"billing portal settings could not be read: {describe(exc)}")]
    if not found.data.get("data"):
        return [
            (
                "warn",
                "billing portal settings are not saved in this mode: Manage billing will say"
                " it is not available (save them in the Dashboard: Settings, Billing,"
                " Customer portal)",
            )
        ]
    return [("ok", "billing portal settings are saved")]


def permissions_table(results: list[Result]) -> str:
    """The results as the README's table, with Stripe's answer in the last column."""
    rows = [("Dashboard row", "Access", "Permission", "Needed", "Used for", "Result")]
    for r in results:
        p = r.permission
        answer = f"{r.outcome}: {r.detail}" if r.detail else r.outcome
        rows.append((p.row, p.access, p.name, "required" if p.required else "optional",
                     p.used_for, answer))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
        + "  "
        + row[5]
        for row in rows
    )


def run_check_stripe(settings: Settings) -> int:
    """``portal check-stripe``: print the key, the permissions table and the portal's
    settings; 1 when a required permission is missing (or could not be checked)."""
    client = make_client(settings.stripe_secret_key, settings.stripe_api_base)
    for level, line in key_findings(settings.stripe_secret_key):
        print(f"{level:<4}  {line}")
    results = check_permissions(client)
    print()
    print(permissions_table(results))
    print()
    for level, line in portal_findings(client):
        print(f"{level:<4}  {line}")
    return 1 if any(r.level == "fail" for r in results) else 0
