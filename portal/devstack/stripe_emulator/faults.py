"""What the emulator can be told to do wrong, the way real Stripe does it.

For tests and the demo: a restricted key with a permission set (Stripe's 403, naming the
missing ``rak_…`` permission), rate limiting (429, with or without ``Retry-After``),
``lock_timeout`` (429 the SDK retries), server errors (500) and hanging requests.
Switch them on with :meth:`Faults.restrict_key` and :meth:`Faults.add`; each rule can be
limited to a number of requests and to paths starting with a prefix.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from portal.devstack.stripe_emulator.wire import StripeError

#: The account the emulator's keys belong to, as Stripe names it in 403 messages.
ACCOUNT = "acct_1EmulatorPortal0"

#: The permission each endpoint needs: ``(method, path pattern under /v1, permission)``.
#: Write permissions include read, as at Stripe.
ENDPOINTS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), permission)
    for method, pattern, permission in (
        ("GET", r"/checkout/sessions(/.*)?", "rak_checkout_session_read"),
        ("POST", r"/checkout/sessions(/.*)?", "rak_checkout_session_write"),
        ("GET", r"/payment_links(/.*)?", "rak_payment_link_read"),
        ("POST", r"/payment_links(/.*)?", "rak_payment_link_write"),
        ("GET", r"/payment_intents(/.*)?", "rak_payment_intent_read"),
        ("POST", r"/payment_intents(/.*)?", "rak_payment_intent_write"),
        ("GET", r"/charges(/.*)?", "rak_charge_read"),
        ("GET", r"/refunds(/.*)?", "rak_refund_read"),
        ("GET", r"/disputes(/.*)?", "rak_dispute_read"),
        ("GET", r"/invoices(/.*)?", "rak_invoice_read"),
        ("POST", r"/invoices(/.*)?", "rak_invoice_write"),
        ("GET", r"/invoice_payments(/.*)?", "rak_invoice_read"),
        ("GET", r"/customers(/.*)?", "rak_customer_read"),
        ("POST", r"/billing_portal/sessions", "rak_customer_portal_write"),
        ("GET", r"/billing_portal/configurations", "rak_customer_portal_read"),
        ("GET", r"/prices(/.*)?", "rak_price_read"),
        ("POST", r"/prices(/.*)?", "rak_price_write"),
        ("GET", r"/products(/.*)?", "rak_product_read"),
        ("POST", r"/products(/.*)?", "rak_product_write"),
    )
)

#: The read permission an expansion into an object of each kind needs.
EXPANSIONS = {
    "checkout.session": "rak_checkout_session_read",
    "payment_intent": "rak_payment_intent_read",
    "charge": "rak_charge_read",
    "refund": "rak_refund_read",
    "dispute": "rak_dispute_read",
    "invoice": "rak_invoice_read",
    "invoice_payment": "rak_invoice_read",
    "customer": "rak_customer_read",
    "payment_link": "rak_payment_link_read",
    "price": "rak_price_read",
    "product": "rak_product_read",
}

RATE_LIMITED = (
    "Request rate limit exceeded. Learn more about rate limits here"
    " https://stripe.com/docs/rate-limits."
)
LOCKED = (
    "This object cannot be accessed right now because another API request or Stripe process"
    " is currently accessing it. If you see this error intermittently, retry the request."
    " If you see this error frequently and are making multiple concurrent requests to a"
    " single object, make your requests serially or at a lower rate."
)
SERVER_ERROR = (
    "Sorry, something went wrong. We've already been notified of the problem, but if you"
    " need any help, you can reach us at https://support.stripe.com/."
)
KINDS = ("rate_limit", "lock_timeout", "server_error", "hang")


@dataclass
class Fault:
    """One switched-on misbehaviour."""

    kind: str
    #: Requests still to be affected; ``None`` until cleared.
    times: int | None = None
    #: Only requests whose path (``/v1/…``) starts with this.
    path: str = "/v1/"
    #: 429: the ``Retry-After`` header's seconds (``None``: no header, as usual at Stripe).
    retry_after: int | None = None
    #: ``hang``: how long the request waits before it is answered normally.
    seconds: float = 0.0


class Faults:
    """The switches, shared by the emulator's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rules: list[Fault] = []
        self._permissions: frozenset[str] | None = None

    def restrict_key(self, permissions: Iterable[str] | None) -> None:
        """Make the API key a restricted key holding ``permissions`` (``None``: a full
        secret key again)."""
        with self._lock:
            self._permissions = None if permissions is None else frozenset(permissions)

    def add(
        self,
        kind: str,
        *,
        times: int | None = None,
        path: str = "/v1/",
        retry_after: int | None = None,
        seconds: float = 0.0,
    ) -> None:
        """Switch a fault on (``kind`` is one of :data:`KINDS`)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        with self._lock:
            self._rules.append(Fault(kind, times, path, retry_after, seconds))

    def clear(self) -> None:
        """Switch every fault off and give the key back all permissions."""
        with self._lock:
            self._rules.clear()
            self._permissions = None

    def take(self, path: str) -> Fault | None:
        """The first fault that applies to a request for ``path`` (and count it)."""
        with self._lock:
            for rule in self._rules:
                if path.startswith(rule.path) and rule.times != 0:
                    if rule.times is not None:
                        rule.times -= 1
                    return rule
            return None

    def check_endpoint(self, method: str, path: str, masked_key: str) -> None:
        """Stripe's 403 when a restricted key lacks the endpoint's permission."""
        relative = path.removeprefix("/v1")
        for verb, pattern, permission in ENDPOINTS:
            if verb == method and pattern.fullmatch(relative):
                self._require(permission, masked_key)
                return

    def check_expansions(self, kinds: Iterable[str], masked_key: str) -> None:
        """Stripe's 403 when an expansion reaches objects the key may not read."""
        for kind in kinds:
            permission = EXPANSIONS.get(kind.removeprefix("list:"))
            if permission:
                self._require(permission, masked_key)

    def _require(self, permission: str, masked_key: str) -> None:
        with self._lock:
            held = self._permissions
        if held is None or permission in held:
            return
        if permission.endswith("_read") and permission.removesuffix("_read") + "_write" in held:
            return
        raise StripeError(
            403,
            f"The provided key '{masked_key}' does not have the required permissions for this"
            f" endpoint on account '{ACCOUNT}'. Having the '{permission}' permission would"
            " allow this request to continue.",
        )


def answer(fault: Fault) -> tuple[StripeError, dict[str, str]] | None:
    """The error (and headers) a fault answers with; ``None`` for a hang (answered late)."""
    if fault.kind == "rate_limit":
        headers = {"Stripe-Rate-Limited-Reason": "endpoint-rate"}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        return StripeError(429, RATE_LIMITED, code="rate_limit"), headers
    if fault.kind == "lock_timeout":
        error = StripeError(429, LOCKED, code="lock_timeout")
        return error, {"Stripe-Should-Retry": "true"}
    if fault.kind == "server_error":
        return StripeError(500, SERVER_ERROR, kind="api_error"), {}
    return None
