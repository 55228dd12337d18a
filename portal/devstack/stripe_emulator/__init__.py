"""A local Stripe: the API calls the portal makes, and the pages Stripe hosts for buyers.

For the demo, end-to-end tests and benchmarks only; never used in production. It speaks
Stripe's wire format (Bearer keys, bracket-encoded parameters, list objects, ``expand``,
Stripe's error JSON, ``Request-Id``, idempotency keys) so the portal talks to it through
the real ``stripe`` SDK, and every object it returns has the shape of the API version
the SDK pins (``tests/devstack/test_emulator_contract.py``). State lives in memory.

Seed with :class:`EmulatorState` (``add_order``, ``add_customer``, ``add_price``), serve
with :func:`create_app` (and :func:`portal.devstack.serving.run_in_thread`), then drive
it through the SDK, the hosted pages (``/pay/<plink>``, ``/vouchers/<pi>``) or the
state's helpers (``mark_paid``, ``refund``, ``fail_payment``, ``dispute``).
``state.calls`` logs API requests (``state.requests`` with their parameters),
``state.latency_seconds`` slows each one down, ``state.faults`` switches on what real
Stripe does wrong (a restricted key's 403, 429, ``lock_timeout``, 5xx, hangs),
``state.events`` holds every webhook event with its delivery results, and
``state.wait_for_deliveries()`` waits for them.

Modules: ``objects`` (Stripe objects of the pinned version), ``state`` (the store and
what happens to it), ``wire`` (parameters, errors, paging), ``expansion``, ``faults``,
``webhooks`` (signing and delivery), ``api`` (``/v1``), ``pages`` (the hosted pages),
``app``.
"""

from portal.devstack.stripe_emulator.app import create_app
from portal.devstack.stripe_emulator.objects import API_VERSION, template
from portal.devstack.stripe_emulator.state import EmulatorState
from portal.devstack.stripe_emulator.webhooks import Endpoint, SentEvent, signature_header
from portal.devstack.stripe_emulator.wire import StripeError, parse_params

__all__ = [
    "API_VERSION",
    "EmulatorState",
    "Endpoint",
    "SentEvent",
    "StripeError",
    "create_app",
    "parse_params",
    "signature_header",
    "template",
]
