"""The portal's own picture of an order, independent of Stripe's and S3's shapes.

Adapters build these; rules and templates read only these.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from portal.emails import normalize_email
from portal.money import Money
from portal.order_numbers import OrderNumbers
from portal.order_refs import order_id_of
from portal.payment_instructions import BankTransfer, KonbiniPayment

#: How long after payment a shop's fulfilment may still be writing an order's files.
FULFILMENT_GRACE = timedelta(hours=24)

#: Orders shown on one page of the order list.
ORDERS_PER_PAGE = 50

#: What Stripe keeps of a ``client_reference_id``; anything else it silently drops.
ORDER_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,200}")


def N_(message: str) -> str:
    """Mark ``message`` for the message catalogs; it is translated where it is shown.

    The domain stays free of Flask: pages translate labels with ``_(label)``.
    """
    return message


class OrderStatus(enum.Enum):
    """What a customer needs to know about a completed checkout."""

    PAID = "paid"
    AWAITING_PAYMENT = "awaiting_payment"
    PAYMENT_FAILED = "payment_failed"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"

    @property
    def label(self) -> str:
        """The words shown next to the order (never colour alone)."""
        return _STATUS_LABELS[self]

    @property
    def delivers_files(self) -> bool:
        """Paid and not fully refunded: the customer may download what they bought."""
        return self in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)


_STATUS_LABELS = {
    OrderStatus.PAID: N_("Paid"),
    OrderStatus.AWAITING_PAYMENT: N_("Awaiting payment"),
    OrderStatus.PAYMENT_FAILED: N_("Payment failed"),
    OrderStatus.PARTIALLY_REFUNDED: N_("Partly refunded"),
    OrderStatus.REFUNDED: N_("Refunded"),
}


class Dispute(enum.Enum):
    """Where a card payment's dispute (chargeback) stands, as far as its files go."""

    #: Open at the card issuer, or disputed with its state not read (list pages).
    UNDER_REVIEW = "under_review"
    #: The issuer took the money back.
    LOST = "lost"
    #: Decided for the shop (won), or an inquiry closed without a chargeback.
    CLOSED = "closed"


@dataclass(frozen=True)
class PaymentDetails:
    """Where the customer finds the paperwork of a payment, as Stripe hosts it."""

    #: The charge's receipt (paid orders).
    receipt_url: str | None = None
    #: Konbini: the voucher to pay at the store, and until when it can be paid.
    voucher_url: str | None = None
    voucher_expires_at: datetime | None = None
    #: Bank transfer: Stripe's page with the account to transfer to.
    instructions_url: str | None = None
    #: What was refunded so far, when anything was.
    refunded: Money | None = None
    #: The invoice Checkout created (``invoice_creation``): Stripe's page and its PDF.
    invoice_url: str | None = None
    invoice_pdf: str | None = None
    #: The invoice's id: in subscription mode it carries the memory of the 領収書 (in
    #: payment mode the order's payment intent does).
    invoice_id: str | None = None
    #: The buyer's bank disputed the payment (a chargeback is open or was decided).
    disputed: bool = False
    #: A refund the shop started did not reach the buyer (Stripe's refund ``failed``).
    refund_failed: bool = False
    #: How the order is (or was to be) paid: ``card``, ``konbini``, ``customer_balance``…
    method: str | None = None
    #: While a konbini payment or a bank transfer is awaited: what to pay with, where.
    konbini: KonbiniPayment | None = None
    bank_transfer: BankTransfer | None = None


@dataclass(frozen=True)
class TimelineEntry:
    """One step in an order's life: what happened, when (if Stripe says), how much."""

    what: str
    at: datetime | None = None
    amount: Money | None = None


@dataclass(frozen=True)
class ItemTax:
    """One tax Stripe applied to a line item (Stripe Tax or a tax rate), in minor units."""

    #: The rate in percent: ``Decimal("10")``.
    percentage: Decimal
    #: Whether the item's price includes this tax (内税) or it was added on top (外税).
    inclusive: bool
    #: The tax Stripe charged, and the amount it was calculated on.
    amount: int
    taxable_amount: int
    #: Stripe Tax said the item is reduced-rated (軽減税率).
    reduced: bool = False
    #: Stripe's ``tax_type`` of the rate (``jct`` for Japan's consumption tax), if any.
    kind: str | None = None


@dataclass(frozen=True)
class LineItem:
    """One product line of an order."""

    description: str
    quantity: int
    amount_total: Money
    #: The Stripe product sold (per-product tax rates are set by its id).
    product: str | None = None
    #: The taxes Stripe applied, when the session has tax data.
    taxes: tuple[ItemTax, ...] = ()


@dataclass(frozen=True)
class ReceiptIssue:
    """The first issue of an order's 領収書, as remembered in Stripe's metadata."""

    addressee: str
    purpose: str
    issued_at: datetime


@dataclass(frozen=True)
class Order:
    """A completed Checkout Session, seen from the customer's side."""

    session_id: str
    #: The shop's OrderID (``client_reference_id``), or ``None`` when the link set none.
    reference: str | None
    created: datetime
    status: OrderStatus
    total: Money
    email: str
    items: tuple[LineItem, ...]
    #: False when Stripe sent only the first few line items (the list shows "and more").
    items_complete: bool = True
    payment: PaymentDetails = PaymentDetails()
    #: The Stripe customer behind the order, when Checkout made one (billing portal).
    customer: str | None = None
    #: When the money arrived (the charge's time), for "updated after purchase" marks.
    paid_at: datetime | None = None
    #: Created, awaiting, paid or failed, refunds, dispute: oldest first.
    timeline: tuple[TimelineEntry, ...] = ()
    #: A subscription sign-up (Checkout ``mode=subscription``), managed in the billing portal.
    is_subscription: bool = False
    #: The Payment Link the order was bought through (signed references are bound to it).
    payment_link: str | None = None
    #: The payment intent that paid it (refund events name it, not the session).
    payment_intent: str | None = None
    #: The tax Stripe says the session charged (``total_details.amount_tax``).
    amount_tax: int = 0
    #: The shipping charged (``shipping_cost``), as a line with its taxes; ``None``: none.
    shipping: LineItem | None = None
    #: When the 領収書 was first issued, and to whom (``None``: not yet, or not remembered).
    receipt_issue: ReceiptIssue | None = None
    #: The payment's dispute, if the buyer disputed it with their card issuer.
    dispute: Dispute | None = None
    #: The 注文番号 a buyer reads (``portal.order_numbers``); derived when not given.
    number: str = ""

    def __post_init__(self) -> None:
        if not self.number:
            reference = order_id_of(self.reference) if self.reference else None
            number = _DEFAULT_NUMBERS.number(reference, self.session_id)
            object.__setattr__(self, "number", number)

    @property
    def order_id(self) -> str:
        """The id a customer sees: the shop's OrderID (without a signature), else the
        session id."""
        return order_id_of(self.reference) if self.reference else self.session_id

    @property
    def is_paid(self) -> bool:
        """Only paid orders that are not fully refunded may download their files."""
        return self.status.delivers_files

    def belongs_to(self, email: str) -> bool:
        """Whether the order was placed with this (verified) email."""
        return bool(self.email) and normalize_email(self.email) == normalize_email(email)


_DEFAULT_NUMBERS = OrderNumbers()


@dataclass(frozen=True)
class OrderPage:
    """One page of a customer's order list, newest first."""

    orders: tuple[Order, ...]
    number: int
    has_next: bool
    #: False when the history behind it could not be read to the end (the page says so).
    complete: bool = True
    #: How many orders there are in all, when known (Stripe lists have no count: known
    #: once the last of them has been read, as on a filtered view).
    total: int | None = None
    #: How many orders have been read so far (at least this many exist).
    known: int = 0

    @property
    def has_prev(self) -> bool:
        """Whether a page before this one exists."""
        return self.number > 1

    @property
    def first_shown(self) -> int:
        """The place of the page's first order in the whole list (1-based)."""
        return (self.number - 1) * ORDERS_PER_PAGE + 1

    @property
    def last_shown(self) -> int:
        """The place of the page's last order in the whole list."""
        return (self.number - 1) * ORDERS_PER_PAGE + len(self.orders)


@dataclass(frozen=True)
class OrderHistory:
    """A customer's orders (for filtered views and exports), newest first."""

    orders: tuple[Order, ...]
    #: False when Stripe could not be read to the end in time (or past the history's
    #: limit): older orders may be missing, and the page or export says so.
    complete: bool = True


@dataclass(frozen=True)
class Deliverable:
    """A file the customer bought, as stored under the order's S3 prefix."""

    name: str
    size: int
    last_modified: datetime
    #: A short form of S3's ETag, so a customer can tell two versions apart.
    checksum: str = ""

    def changed_since(self, paid_at: datetime | None) -> bool:
        """Whether the file was rewritten after the order was fulfilled.

        Fulfilment writes files soon after payment, so only a change more than
        ``FULFILMENT_GRACE`` after the payment counts as an update.
        """
        return paid_at is not None and self.last_modified > paid_at + FULFILMENT_GRACE

    @property
    def type_label(self) -> str:
        """The file's kind as its extension says: ``PDF``, ``ZIP``, ``JPG`` (empty if none)."""
        base = self.name.rsplit("/", 1)[-1]
        _, dot, extension = base.rpartition(".")
        return extension.upper() if dot and _ and 0 < len(extension) <= 5 else ""

    @property
    def size_label(self) -> str:
        """A human size: ``512 B``, ``1.2 KB``, ``3.4 MB``."""
        size = float(self.size)
        for unit in ("B", "KB", "MB", "GB"):
            if size < 1024 or unit == "GB":
                return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
            size /= 1024
        raise AssertionError("unreachable")


class PortalError(Exception):
    """Base of the portal's own errors, each mapped to a page by ``portal.errors``."""


class OrdersUnavailable(PortalError):
    """Stripe could not answer now (down, 5xx, rate limited): try again later."""

    def __init__(self, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.request_id = request_id


class StripeMisconfigured(PortalError):
    """Stripe refused our credentials or request: an operator must act."""

    def __init__(self, reason: str, request_id: str | None = None) -> None:
        super().__init__(reason)
        self.request_id = request_id


class BillingPortalUnavailable(PortalError):
    """Stripe's billing portal cannot be opened for this customer now.

    ``reason`` is ``"not_configured"`` (the shop has not saved its portal settings in this
    mode), ``"no_customer"`` (no Stripe customer with this email, or only deleted ones) or
    ``"unavailable"`` (Stripe refused or did not answer; the cause is logged).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FilesUnavailable(PortalError):
    """S3 could not list or sign the order's files now."""
