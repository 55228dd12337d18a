"""The rules between a customer and their orders: which are theirs, which files they get."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlencode

from portal.deliverables import Deliverables
from portal.domain import (
    ORDERS_PER_PAGE,
    BillingPortalUnavailable,
    Deliverable,
    Dispute,
    FilesUnavailable,
    Order,
    OrderHistory,
    OrderPage,
    OrderStatus,
    OrdersUnavailable,
    PortalError,
)
from portal.fulfilment.delivery import DeliveryReader
from portal.fulfilment.status import FulfilmentStatus
from portal.order_cache import OrderCache, Served
from portal.order_numbers import OrderNumbers
from portal.order_refs import ReferencePolicy
from portal.orders.filters import OrderFilter
from portal.orders.spellings import EmailSpellings
from portal.orders.states import BuyerState, buyer_state
from portal.stripe.client import is_session_id
from portal.stripe.guard import HISTORY_BUDGET_SECONDS, longer_budget
from portal.stripe.listing import Created
from portal.stripe.queries import MAX_HISTORY, StripeOrders

#: S3 listings made at once when the order list checks which orders have their files.
FILE_CHECKS_AT_ONCE = 8


class OrderRefunded(PortalError):
    """The customer's own order was refunded: its files are closed (a link kept from
    before the refund lands here)."""

    def __init__(self, session_id: str) -> None:
        super().__init__(session_id)
        self.session_id = session_id


def saved_name(order: Order, name: str) -> str:
    """What a downloaded file is saved as: the order number first, so ten orders'
    ``result.txt`` do not become ``result (9).txt``."""
    basename = name.rsplit("/", 1)[-1]
    return f"{order.number}_{basename}"


class FilesWithheld(PortalError):
    """The customer's own order, whose files its payment's dispute holds back."""


class OrderNotFound(PortalError):
    """No such order for this customer: missing, not an order, or someone else's.

    One error for all three, so the answer never tells whether an id exists.
    """


@dataclass(frozen=True)
class OrderFiles:
    """The files section of an order page."""

    files: tuple[Deliverable, ...]
    #: S3 could not be asked now; the order still shows.
    unavailable: bool = False
    #: False for orders that get no files (unpaid yet, or no OrderID to find them by).
    expected: bool = True
    #: What the shop's pipeline says about the order (its status object), if anything.
    status: FulfilmentStatus | None = None
    #: ``"review"`` or ``"reversed"`` when a dispute holds the files back.
    withheld: str | None = None

    @property
    def ready(self) -> bool | None:
        """Files there (True), expected but not yet (False), or nothing to say (None)."""
        if not self.expected or self.unavailable:
            return None
        return bool(self.files)

    @property
    def being_prepared(self) -> bool:
        """A paid order whose files are not written yet."""
        return self.expected and not self.unavailable and not self.files


class OrderService:
    """What the order pages need, from Stripe (through the cache) and S3, owner-checked."""

    def __init__(
        self,
        orders: StripeOrders,
        deliverables: Deliverables,
        cache: OrderCache,
        references: ReferencePolicy,
        numbers: OrderNumbers | None = None,
        spellings: EmailSpellings | None = None,
        *,
        keep_files_during_disputes: bool = False,
    ) -> None:
        self._orders = orders
        self._keep_disputed = keep_files_during_disputes
        self._deliverables = deliverables
        self._delivery = DeliveryReader(deliverables)
        self._cache = cache
        self._references = references
        self._numbers = numbers or OrderNumbers()
        self._spellings = spellings

    def page(self, email: str, number: int) -> Served[OrderPage]:
        """One page of the customer's orders, newest first.

        The first page (nearly every view) costs one Stripe call. Later pages are cut from
        the one cached history that filters and exports use too, so paging through costs
        the history's reads once; a page past the end costs nothing when the first page
        is cached and says there is no second, nor when it lies past the history's limit.
        """
        if number > 1:
            first = self._cache.peek_list(email, 1)
            if number > MAX_HISTORY // ORDERS_PER_PAGE or (first and not first.has_next):
                return Served(OrderPage(orders=(), number=number, has_next=False))
            return self.filtered_page(email, OrderFilter(), number)
        served = self._cache.order_list(
            email, 1, lambda: self._orders.list_orders(email, 1, self._learned(email))
        )
        page = replace(served.value, orders=tuple(map(self._numbered, served.value.orders)))
        return Served(page, served.stale_as_of)

    def history(self, email: str, wanted: OrderFilter) -> Served[OrderHistory]:
        """Every order that passes the filter, newest first (filtered views, exports).

        Its dates go to Stripe (``created``), so a dated view reads that range only.
        """
        created = Created(*wanted.created_between())
        with longer_budget(HISTORY_BUDGET_SECONDS):
            served = self._cache.order_history(
                email,
                lambda: self._orders.all_orders(email, self._learned(email), created=created),
                created.key,
            )
        numbered = (self._numbered(order) for order in served.value.orders)
        orders = tuple(order for order in numbered if wanted.matches(order))
        return Served(OrderHistory(orders, served.value.complete), served.stale_as_of)

    def filtered_page(self, email: str, wanted: OrderFilter, number: int) -> Served[OrderPage]:
        """One page of the orders that pass the filter."""
        served = self.history(email, wanted)
        orders = served.value.orders
        end = number * ORDERS_PER_PAGE
        page = OrderPage(
            orders=orders[end - ORDERS_PER_PAGE : end],
            number=number,
            has_next=len(orders) > end,
            complete=served.value.complete,
            total=len(orders) if served.value.complete else None,
            known=len(orders),
        )
        return Served(page, served.stale_as_of)

    def _learned(self, email: str) -> list[str]:
        """Spellings of the email seen at checkout beyond the usual ones (webhooks)."""
        return self._spellings.of(email) if self._spellings else []

    def order(self, email: str, session_id: str, *, max_age: int | None = None) -> Served[Order]:
        """The customer's own order, or :class:`OrderNotFound`. ``max_age`` lets a caller
        that polls accept a cached copy older than the TTL (webhooks still invalidate it)."""
        if not is_session_id(session_id):
            raise OrderNotFound(session_id)
        served = self._cache.order_detail(
            session_id, lambda: self._orders.find_order(session_id), max_age=max_age
        )
        order = served.value
        if order is None or not order.belongs_to(email):
            raise OrderNotFound(session_id)
        return Served(self._numbered(order), served.stale_as_of)

    def _numbered(self, order: Order) -> Order:
        """The order with the number this shop gives it (also for copies cached before
        orders had numbers)."""
        number = self._numbers.number(order.order_id if order.reference else None, order.session_id)
        return order if number == order.number else replace(order, number=number)

    def _files_key(self, order: Order) -> str | None:
        """The OrderID the order's files are under, when its reference is trusted."""
        return self._references.files_key(
            order.reference,
            payment_link=order.payment_link,
            email=order.email,
            placed=order.created,
        )

    def withheld(self, order: Order) -> str | None:
        """Why a paid order's files are held back: ``"review"`` while its payment is
        disputed (unless the shop keeps files then), ``"reversed"`` once the issuer took the
        money back; ``None`` when nothing holds them."""
        if order.dispute is Dispute.LOST:
            return "reversed"
        if order.dispute is Dispute.UNDER_REVIEW and not self._keep_disputed:
            return "review"
        return None

    def files(self, order: Order) -> OrderFiles:
        """The order's files; an unpaid, refunded or disputed order has none to show."""
        held = self.withheld(order) if order.is_paid else None
        if held:
            return OrderFiles(files=(), expected=False, withheld=held)
        key = self._files_key(order) if order.is_paid else None
        if key is None:
            return OrderFiles(files=(), expected=False)
        try:
            delivery = self._delivery.read(key)
        except FilesUnavailable:
            return OrderFiles(files=(), unavailable=True)
        return OrderFiles(files=delivery.files, status=delivery.status)

    def states(self, orders: tuple[Order, ...], now: datetime) -> dict[str, BuyerState]:
        """What each order in the list asks of the buyer, by session id."""
        ready = self.files_ready(orders)
        return {o.session_id: buyer_state(o, ready.get(o.session_id), now) for o in orders}

    def files_ready(self, orders: tuple[Order, ...]) -> dict[str, bool | None]:
        """For the list: whether each paid order's files are there yet, by session id
        (``None``: no files expected, or S3 could not say). One small S3 listing per order
        not already known, several at once; a "ready" is remembered."""
        keys = {
            order.session_id: key
            for order in orders
            if order.is_paid and (key := self._files_key(order))
        }
        found = self._cache.files_ready(sorted(set(keys.values())), self._check_files)
        return {session_id: found.get(key) for session_id, key in keys.items()}

    def _check_files(self, order_ids: list[str]) -> dict[str, bool | None]:
        with ThreadPoolExecutor(max_workers=min(FILE_CHECKS_AT_ONCE, len(order_ids))) as pool:
            return dict(zip(order_ids, pool.map(self._has_files, order_ids), strict=True))

    def _has_files(self, order_id: str) -> bool | None:
        try:
            return self._deliverables.has_files(order_id)
        except FilesUnavailable:
            return None

    def download_url(self, email: str, session_id: str, name: str) -> str:
        """A presigned URL for one of the customer's paid files, else ``OrderNotFound``.

        ``name`` must be exactly one of the listed names: it is compared, never joined
        into a key, so ``../`` and friends have nothing to work with.
        """
        served = self.order(email, session_id)
        if served.stale_as_of is not None:
            # A copy kept through an outage may show the order, never hand out its files:
            # the refund or dispute that Stripe would now report could be in the gap.
            raise OrdersUnavailable("Stripe did not answer; a download needs its answer")
        order = served.value
        if order.status is OrderStatus.REFUNDED:
            # The order exists: a link kept from before the refund says why it is closed.
            raise OrderRefunded(session_id)
        if order.is_paid and self.withheld(order):
            raise FilesWithheld(session_id)
        key = self._files_key(order) if order.is_paid else None
        if key is None:
            raise OrderNotFound(session_id)
        listed = {f.name for f in self._deliverables.list_files(key)}
        if name not in listed:
            raise OrderNotFound(session_id)
        return self._deliverables.download_url(key, name, save_as=saved_name(order, name))

    def link_name_of(self, order: Order, links: Iterable[tuple[str, str]]) -> str | None:
        """Which of the shop's named Payment Links (``PORTAL_PAYMENT_LINKS``) the order
        was bought through, if any (each link's id is looked up once, then remembered)."""
        if order.payment_link is None:
            return None
        for name, url in links:
            if self._orders.payment_link_id(url) == order.payment_link:
                return name
        return None

    def purchase_url(self, link_url: str, email: str) -> str | None:
        """Where ``/buy/<name>`` sends the buyer: the Payment Link with a fresh reference
        signed for this link and the buyer's email, and that email locked at checkout;
        ``None`` if Stripe has no such link.
        """
        link_id = self._orders.payment_link_id(link_url)
        if link_id is None:
            return None
        params = {
            "client_reference_id": self._references.sign_for(link_id, email),
            # Locked, so the order is under the email the reference was signed for.
            "locked_prefilled_email": email,
        }
        separator = "&" if "?" in link_url else "?"
        return link_url + separator + urlencode(params)

    def billing_portal(self, email: str, return_url: str) -> str:
        """A link into Stripe's billing portal for the customer behind ``email``.

        The customers recorded on the orders come first (Checkout records them; newest
        order first), then those Stripe's customer search finds with exactly this email. A
        customer that no longer exists (deleted in Stripe) is skipped. Raises
        :class:`BillingPortalUnavailable` saying why none could be opened.
        """
        try:
            recorded = [o.customer for o in self.page(email, 1).value.orders if o.customer]
        except OrdersUnavailable as exc:
            raise BillingPortalUnavailable("unavailable") from exc
        tried: set[str] = set()
        for customer in self._customers(email, recorded):
            if customer in tried:
                continue
            tried.add(customer)
            try:
                return self._orders.billing_portal_url(customer, return_url)
            except BillingPortalUnavailable as exc:
                if exc.reason != "no_customer":
                    raise
        raise BillingPortalUnavailable("no_customer")

    def _customers(self, email: str, recorded: list[str]) -> Iterator[str]:
        """The recorded customers, then (only if none of them opens) the searched ones."""
        yield from recorded
        try:
            yield from self._orders.customers_for(email)
        except OrdersUnavailable as exc:
            raise BillingPortalUnavailable("unavailable") from exc

    def order_changed(self, *, email: str | None, session_id: str | None) -> None:
        """Stripe says this order changed: the next view reads Stripe again."""
        self._cache.invalidate(email=email, session_id=session_id)
