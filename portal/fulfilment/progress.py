"""How far an order's fulfilment is, as the buyer is told and as ``portal watch`` judges it.

One rule for both, so the page never says "the shop has been notified" about an order the
watch would not alert on: an order is *delayed* when the pipeline says ``failed``, or when
it is paid, has no files and is past its estimate (the pipeline's ``ready_by``, else the
shop's usual hours counted from the payment, which for konbini and bank transfers is days
after the order).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain import Order
from portal.fulfilment.delivery import Delivery
from portal.fulfilment.status import FulfilmentState, FulfilmentStatus


class Stage(enum.Enum):
    """What the buyer is told about their files."""

    PREPARING = "preparing"
    DELAYED = "delayed"
    READY = "ready"
    #: The pipeline says ``done`` and wrote no files: nothing to download.
    NOTHING_TO_DELIVER = "nothing"

    @property
    def finished(self) -> bool:
        """Whether nothing more will change without someone acting (the page stops asking)."""
        return self in (Stage.READY, Stage.NOTHING_TO_DELIVER)


class Delay(enum.Enum):
    """Why a delayed order is delayed."""

    FAILED = "failed"
    OVERDUE = "overdue"


@dataclass(frozen=True)
class Progress:
    """An order's fulfilment as of ``now``."""

    stage: Stage
    #: When the clock started: the payment (konbini and bank transfers pay later).
    since: datetime
    #: When the files should be there.
    due: datetime
    usual_hours: int
    status: FulfilmentStatus | None = None
    delay: Delay | None = None

    @property
    def queued(self) -> bool:
        """The pipeline has the order but has not started on it."""
        return self.status is not None and self.status.state is FulfilmentState.QUEUED

    @property
    def shop_estimate(self) -> bool:
        """``due`` is the pipeline's own estimate, not the shop's usual hours."""
        return self.status is not None and self.status.ready_by is not None

    def message(self, language: str) -> str | None:
        """The pipeline's own words for the buyer, if it wrote any."""
        return self.status.message(language) if self.status else None


def progress_of(order: Order, delivery: Delivery, *, usual_hours: int, now: datetime) -> Progress:
    """The stage of a paid order's fulfilment, from what S3 holds for it."""
    status = delivery.status
    since = order.paid_at or order.created
    due = since + timedelta(hours=usual_hours)
    if status is not None and status.ready_by is not None:
        due = status.ready_by
    stage, delay = _stage(delivery, due, now)
    return Progress(
        stage=stage, since=since, due=due, usual_hours=usual_hours, status=status, delay=delay
    )


def _stage(delivery: Delivery, due: datetime, now: datetime) -> tuple[Stage, Delay | None]:
    state = delivery.status.state if delivery.status else None
    if delivery.files:
        return Stage.READY, None
    if state is FulfilmentState.DONE:
        return Stage.NOTHING_TO_DELIVER, None
    if state is FulfilmentState.FAILED:
        return Stage.DELAYED, Delay.FAILED
    if now > due:
        return Stage.DELAYED, Delay.OVERDUE
    return Stage.PREPARING, None
