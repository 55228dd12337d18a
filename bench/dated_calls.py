"""Stripe calls per dated filter view, before and after ``from``/``to`` go to Stripe.

    .venv/bin/python bench/dated_calls.py [--orders 1000] [--days 365]

Seeds the Stripe emulator with ``--orders`` paid orders of one customer spread over
``--days`` days, then reads a one-day view through the portal's Stripe adapter (the real
SDK over HTTP, the emulator counting every request): *before* reads the whole history and
filters it (what the portal did before issue 15), *after* asks Stripe for that day only
(``created[gte]``/``created[lte]``). Both count the calls for the two spellings the
portal asks for (``hanako@…`` and ``Hanako@…``). A count of calls, not a timing: the
result does not depend on the machine.
"""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime, timedelta

from portal.devstack.serving import free_port, run_in_thread
from portal.devstack.stripe_emulator import EmulatorState, create_app
from portal.stripe.client import make_client
from portal.stripe.listing import Created
from portal.stripe.queries import StripeOrders

KEY = "sk_test_bench" + "0" * 24
EMAIL = "hanako@example.jp"


def main() -> None:
    """Seed, read a day before and after, print the counts."""
    args = _arguments()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the emulator's request log
    state = EmulatorState()
    now = int(time.time())
    step = args.days * 86_400 // args.orders
    for n in range(args.orders):
        state.add_order(EMAIL, created=now - n * step, client_reference_id=f"B-{n:05d}")
    port = free_port()
    with run_in_thread(create_app(state, api_key=KEY), port=port) as server:
        orders = StripeOrders(make_client(KEY, server.url))
        day = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0)
        day -= timedelta(days=args.days // 2)
        created = Created(day, day + timedelta(days=1))
        state.reset_calls()
        everything = orders.all_orders(EMAIL)
        wanted = [o for o in everything.orders if day <= o.created < day + timedelta(days=1)]
        before = len(state.calls)
        state.reset_calls()
        dated = orders.all_orders(EMAIL, created=created)
        after = len(state.calls)
    assert [o.session_id for o in dated.orders] == [o.session_id for o in wanted]
    print(f"{args.orders} orders over {args.days} days; a one-day view ({day:%Y-%m-%d}) shows")
    print(f"{len(wanted)} order(s). Stripe calls for the view (two spellings):")
    print(f"  before (whole history, filtered here): {before}")
    print(f"  after  (created[gte]/[lte] at Stripe): {after}")
    print(f"  ratio before/after: {before / after:.1f}")


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    return parser.parse_args()


if __name__ == "__main__":
    main()
