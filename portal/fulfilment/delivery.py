"""An order's files and its pipeline's status object, read from S3 with one listing.

The status object is fetched only when the listing shows one whose ETag this process has
not read yet, so a page polling an order costs one S3 listing per poll.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from portal.deliverables import Deliverables
from portal.domain import Deliverable, Order
from portal.fulfilment.status import FulfilmentStatus, InvalidStatus, parse_status
from portal.order_refs import ReferencePolicy

log = logging.getLogger(__name__)

#: Parsed status objects remembered per process, by order and ETag.
REMEMBERED_STATUSES = 4096


@dataclass(frozen=True)
class Delivery:
    """What the shop has delivered for an order so far."""

    files: tuple[Deliverable, ...]
    status: FulfilmentStatus | None = None


class DeliveryReader:
    """Reads an order's files and status object. Raises ``FilesUnavailable``."""

    def __init__(self, deliverables: Deliverables) -> None:
        self._deliverables = deliverables
        self._statuses: OrderedDict[tuple[str, str], FulfilmentStatus | None] = OrderedDict()
        self._lock = threading.Lock()
        #: S3 requests made, for ``portal watch``'s cost line.
        self.listings = 0
        self.status_reads = 0

    def read(self, order_id: str) -> Delivery:
        """The order's files and, if the pipeline wrote one, its status."""
        self.listings += 1
        listing = self._deliverables.listing(order_id)
        if listing.status_etag is None:
            return Delivery(files=listing.files)
        return Delivery(files=listing.files, status=self._status(order_id, listing.status_etag))

    def _status(self, order_id: str, etag: str) -> FulfilmentStatus | None:
        key = (order_id, etag)
        with self._lock:
            if key in self._statuses:
                self._statuses.move_to_end(key)
                return self._statuses[key]
        self.status_reads += 1
        body = self._deliverables.read_status(order_id)
        status = None
        if body is not None:
            try:
                status = parse_status(body)
            except InvalidStatus as exc:
                # The shop's pipeline wrote something else: the buyer sees the default.
                log.warning("status object of order %s ignored: %s", order_id, exc)
        with self._lock:
            self._statuses[key] = status
            while len(self._statuses) > REMEMBERED_STATUSES:
                self._statuses.popitem(last=False)
        return status


def files_key(references: ReferencePolicy, order: Order) -> str | None:
    """The OrderID a paid order's files are under, when its reference is trusted (as the
    order page decides it), else ``None``."""
    if not order.is_paid:
        return None
    return references.files_key(
        order.reference, payment_link=order.payment_link, email=order.email, placed=order.created
    )
