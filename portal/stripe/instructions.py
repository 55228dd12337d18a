"""A payment intent's ``next_action`` to what the buyer needs to pay: konbini codes per
chain, or the bank account and reference of a transfer (``portal.payment_instructions``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from portal.domain import Money
from portal.payment_instructions import (
    KONBINI_CHAINS,
    BankAccount,
    BankTransfer,
    KonbiniPayment,
    KonbiniStore,
)
from portal.stripe.client import Json


def konbini_payment(action: Json) -> KonbiniPayment | None:
    """The codes of ``konbini_display_details``, chain by chain (chains Stripe sent none
    for are left out), or ``None`` when this is no konbini payment."""
    details = action.get("konbini_display_details")
    if not isinstance(details, dict):
        return None
    stores = details.get("stores") or {}
    found = []
    for chain in KONBINI_CHAINS:
        store = stores.get(chain)
        if isinstance(store, dict) and store.get("payment_code"):
            found.append(
                KonbiniStore(
                    chain=chain,
                    payment_code=str(store["payment_code"]),
                    confirmation_number=_text(store.get("confirmation_number")),
                )
            )
    expires = details.get("expires_at")
    return KonbiniPayment(
        stores=tuple(found),
        expires_at=datetime.fromtimestamp(expires, tz=UTC) if isinstance(expires, int) else None,
        voucher_url=_text(details.get("hosted_voucher_url")),
    )


def bank_transfer(action: Json) -> BankTransfer | None:
    """The Zengin accounts and reference of ``display_bank_transfer_instructions``, or
    ``None`` when this is no bank transfer."""
    details = action.get("display_bank_transfer_instructions")
    if not isinstance(details, dict):
        return None
    remaining = details.get("amount_remaining")
    currency = details.get("currency")
    return BankTransfer(
        amount_remaining=Money(remaining, currency)
        if isinstance(remaining, int) and isinstance(currency, str)
        else None,
        reference=_text(details.get("reference")),
        accounts=tuple(
            account
            for address in details.get("financial_addresses") or ()
            if (account := _zengin(address)) is not None
        ),
        instructions_url=_text(details.get("hosted_instructions_url")),
    )


def _zengin(address: Any) -> BankAccount | None:
    zengin = address.get("zengin") if isinstance(address, dict) else None
    if not isinstance(zengin, dict) or not zengin.get("account_number"):
        return None
    return BankAccount(
        bank_name=str(zengin.get("bank_name") or ""),
        bank_code=str(zengin.get("bank_code") or ""),
        branch_name=str(zengin.get("branch_name") or ""),
        branch_code=str(zengin.get("branch_code") or ""),
        account_type=str(zengin.get("account_type") or ""),
        account_number=str(zengin["account_number"]),
        account_holder_name=str(zengin.get("account_holder_name") or ""),
    )


def payment_method(intent: Json, charge: Json) -> str | None:
    """How the order was paid (the charge's method), else how it is to be paid."""
    details = charge.get("payment_method_details")
    if isinstance(details, dict) and isinstance(details.get("type"), str):
        return str(details["type"])
    types = intent.get("payment_method_types")
    return str(types[0]) if isinstance(types, list) and len(types) == 1 else None


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int) and str(value) else None
