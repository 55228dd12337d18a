"""How to pay an order that waits for its money: konbini codes per chain, a bank account.

Stripe gives both in the payment intent's ``next_action``
(``konbini_display_details``, ``display_bank_transfer_instructions``); the portal shows
them itself, so the buyer needs no other page to pay at the till or at the bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from portal.money import Money

#: Konbini chains Stripe can send codes for, in the order buyers see them, with the name
#: each goes by. The ``how`` text for each is in ``templates/orders/_konbini.html``.
KONBINI_CHAINS = ("familymart", "lawson", "ministop", "seicomart")


@dataclass(frozen=True)
class KonbiniStore:
    """What to give at one chain's till or terminal."""

    chain: str
    payment_code: str
    #: Lawson, Ministop and Seicomart ask for it; FamilyMart's code is enough.
    confirmation_number: str | None = None


@dataclass(frozen=True)
class KonbiniPayment:
    """A konbini payment waiting to be made."""

    stores: tuple[KonbiniStore, ...]
    expires_at: datetime | None = None
    #: Stripe's hosted voucher page, as a second way to see the same codes.
    voucher_url: str | None = None


@dataclass(frozen=True)
class BankAccount:
    """A Japanese bank account (Zengin) to transfer to."""

    bank_name: str
    bank_code: str
    branch_name: str
    branch_code: str
    account_type: str
    account_number: str
    account_holder_name: str


@dataclass(frozen=True)
class BankTransfer:
    """A bank transfer waiting to be made."""

    amount_remaining: Money | None
    #: What to write as the transfer's name (振込依頼人名) or reference, so Stripe can match it.
    reference: str | None
    accounts: tuple[BankAccount, ...]
    instructions_url: str | None = None
