"""What goes on a 領収書, and the rules for issuing it once and re-issuing it honestly."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from portal.domain import N_, Money, Order, OrderStatus, PortalError
from portal.receipts.tax import TaxRates, TaxSummary, charged_lines, is_reduced, order_taxes

#: Longest 宛名 and 但し書き a buyer may type (Stripe keeps up to 500 characters a value).
MAX_ADDRESSEE = 60
MAX_PURPOSE = 60
#: The addressee printed for a blank 宛名, when the shop allows it.
UESAMA = "上様"
#: Endings a buyer may type themselves; any other 宛名 gets 「様」 printed after it.
HONORIFICS = ("様", "御中", "殿")


class ReceiptRefused(PortalError):
    """This order gets no receipt (not paid yet, fully refunded, receipts not set up)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        #: A translatable sentence for the buyer.
        self.reason = reason


class ReceiptInputError(PortalError):
    """What the buyer typed cannot go on a receipt; ``message`` says why (translatable)."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message)
        self.message = message
        self.values = values


@dataclass(frozen=True)
class Issuer:
    """Who issues the receipt: the qualified-invoice issuer fields."""

    name: str
    address: str | None = None
    #: 適格請求書発行事業者登録番号; without it the receipt is not a qualified invoice.
    registration_number: str | None = None


@dataclass(frozen=True)
class ReceiptConfig:
    """The shop's receipt settings."""

    issuer: Issuer
    rates: TaxRates
    allow_uesama: bool = False
    #: The 但し書き for a blank one; ``None``: made from the product names.
    default_purpose: str | None = None


@dataclass(frozen=True)
class ReceiptLine:
    description: str
    quantity: int
    amount: Money
    #: Sold at the reduced rate: marked ※軽減税率対象.
    reduced: bool = False
    #: The shipping charge (its description is the document's word for shipping).
    shipping: bool = False


@dataclass(frozen=True)
class Receipt:
    """Everything printed on one 領収書."""

    number: str
    addressee: str
    purpose: str
    issuer: Issuer
    transaction_date: datetime
    issued_at: datetime
    lines: tuple[ReceiptLine, ...]
    total: Money
    taxes: TaxSummary
    refunded: Money | None = None
    #: When the first issue was made, for a re-issue (「再発行」).
    first_issued_at: datetime | None = None

    @property
    def reissued(self) -> bool:
        return self.first_issued_at is not None

    @property
    def paid_after_refunds(self) -> Money:
        refunded = self.refunded.amount if self.refunded else 0
        return Money(self.total.amount - refunded, self.total.currency)

    @property
    def addressed_as(self) -> str:
        """The 宛名 as printed: 「様」 added unless the buyer wrote an honorific."""
        if self.addressee == UESAMA or self.addressee.endswith(HONORIFICS):
            return self.addressee
        return f"{self.addressee} 様"


def refusal(order: Order) -> str | None:
    """Why ``order`` gets no receipt (a translatable sentence), or ``None``."""
    if order.status is OrderStatus.REFUNDED:
        return N_("This order was refunded in full, so no receipt can be issued for it.")
    if not order.is_paid:
        return N_("A receipt can be issued once your payment has been received.")
    return None


def addressee_of(typed: str, config: ReceiptConfig) -> str:
    """The 宛名 to print for what the buyer typed; a blank one is 「上様」 only if allowed."""
    addressee = _clean(typed, MAX_ADDRESSEE, N_("The addressee"))
    if addressee:
        return addressee
    if config.allow_uesama:
        return UESAMA
    raise ReceiptInputError(N_("Please enter the name the receipt should be addressed to."))


def purpose_of(typed: str, order: Order, config: ReceiptConfig, words: Words) -> str:
    """The 但し書き: what the buyer typed, else the shop's phrase, else the product names."""
    purpose = _clean(typed, MAX_PURPOSE, N_("The purpose"))
    if purpose:
        return purpose
    if config.default_purpose:
        return config.default_purpose
    names = [item.description for item in order.items]
    shown = "、".join(names) if words.language == "ja" else ", ".join(names)
    if len(shown) > MAX_PURPOSE - 10 and len(names) > 1:
        shown = words.and_more(names[0][: MAX_PURPOSE - 20], len(names) - 1)
    return words.for_goods(shown)


@dataclass(frozen=True)
class Words:
    """The language-dependent bits of a default 但し書き."""

    language: str
    for_goods: Callable[[str], str]
    and_more: Callable[[str, int], str]


def _clean(typed: str, limit: int, what: str) -> str:
    text = unicodedata.normalize("NFC", " ".join(typed.split()))
    if len(text) > limit:
        raise ReceiptInputError(
            N_("%(what)s can be at most %(limit)s characters."), what=what, limit=limit
        )
    if any(unicodedata.category(ch).startswith("C") for ch in text):
        raise ReceiptInputError(
            N_("%(what)s contains a character that cannot be printed."), what=what
        )
    return text


def build_receipt(
    order: Order,
    config: ReceiptConfig,
    *,
    addressee: str,
    purpose: str,
    issued_at: datetime,
    first_issued_at: datetime | None,
) -> Receipt:
    """The receipt of a paid order, its figures all from the order as Stripe has it now."""
    taxes = order_taxes(order, config.rates)
    return Receipt(
        number=order.number,
        addressee=addressee,
        purpose=purpose,
        issuer=config.issuer,
        transaction_date=order.paid_at or order.created,
        issued_at=issued_at,
        lines=tuple(
            ReceiptLine(
                item.description,
                item.quantity,
                item.amount_total,
                reduced=is_reduced(item, config.rates, taxes.source),
                shipping=item is order.shipping,
            )
            for item in charged_lines(order)
        ),
        total=order.total,
        taxes=taxes,
        refunded=order.payment.refunded,
        first_issued_at=first_issued_at,
    )
