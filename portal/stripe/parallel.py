"""Independent Stripe calls made at once, so a page waits for the slowest, not the sum."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")

#: Most calls one page has in flight at once: a customer's page never needs more, and
#: Stripe allows 25 per second per endpoint in a sandbox.
MAX_IN_FLIGHT = 2


def run_all(tasks: Sequence[Callable[[], T]]) -> list[T]:
    """Each task's result, in order; the first task's error (in order) is raised.

    A single task runs in the caller's thread; several run in a small pool, each in a copy
    of the caller's context, so context-bound state (a request's time budget) holds there.
    """
    if len(tasks) <= 1:
        return [task() for task in tasks]
    with ThreadPoolExecutor(max_workers=min(len(tasks), MAX_IN_FLIGHT)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, task) for task in tasks]
        return [future.result() for future in futures]
