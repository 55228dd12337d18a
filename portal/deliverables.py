"""The S3 adapter: the files an order delivers, and short-lived links to download them.

The only module that imports ``boto3``. Keys are built from the shop's OrderID through the
``PORTAL_S3_PREFIX`` template; no user input is ever joined into a key, and a download is
signed only for a name that the listing itself returned.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from portal import metrics
from portal.domain import ORDER_ID_PATTERN, Deliverable, FilesUnavailable
from portal.fulfilment.status import MAX_STATUS_BYTES, STATUS_OBJECT_NAME

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

#: An order never has more files than this shown; more means the prefix is wrong.
MAX_FILES_PER_ORDER = 1000


def make_client(endpoint_url: str | None = None) -> S3Client:
    """One S3 client for the app; credentials and region come the standard boto3 way."""
    # Bounded like Stripe's calls: at most 2 attempts of 1 s to connect and 2 s to read,
    # so a slow S3 holds a thread for seconds, not the 3 x (3 + 5) s of the defaults.
    config = Config(
        signature_version="s3v4",
        connect_timeout=1,
        read_timeout=2,
        retries={"total_max_attempts": 2, "mode": "standard"},
    )
    return boto3.client("s3", endpoint_url=endpoint_url, config=config)


@dataclass(frozen=True)
class Listing:
    """What one listing of an order's prefix found."""

    files: tuple[Deliverable, ...]
    #: The ETag of the pipeline's status object, when it wrote one (never a file).
    status_etag: str | None = None


class Deliverables:
    """Lists and signs the files stored under an order's prefix."""

    def __init__(self, client: S3Client, bucket: str, prefix_template: str, ttl: int) -> None:
        self._client = client
        self._bucket = bucket
        self._prefix_template = prefix_template
        self._ttl = ttl

    def prefix_for(self, order_id: str) -> str | None:
        """The order's key prefix, or ``None`` for an OrderID Stripe would not keep."""
        if not ORDER_ID_PATTERN.fullmatch(order_id):
            log.warning("order id with characters Stripe does not allow; no files shown")
            return None
        return self._prefix_template.format(order_id=order_id)

    def list_files(self, order_id: str) -> tuple[Deliverable, ...]:
        """The order's files by name, in key order. Raises ``FilesUnavailable``."""
        return self.listing(order_id).files

    def listing(self, order_id: str) -> Listing:
        """The order's files and its status object's ETag, from one S3 listing (one call
        per 1,000 keys). Raises ``FilesUnavailable``."""
        prefix = self.prefix_for(order_id)
        if prefix is None:
            return Listing(files=())
        files: list[Deliverable] = []
        status_etag: str | None = None
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self._bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(prefix) :]
                    if name == STATUS_OBJECT_NAME:
                        status_etag = str(obj.get("ETag", "")) or "-"
                    elif name and not name.endswith("/"):
                        files.append(_deliverable(name, obj))
                if len(files) >= MAX_FILES_PER_ORDER:
                    break
        except (BotoCoreError, ClientError) as exc:
            log.warning("S3 listing failed for bucket %s: %s", self._bucket, type(exc).__name__)
            metrics.S3_ERRORS.labels(operation="list").inc()
            raise FilesUnavailable("S3 did not answer") from exc
        return Listing(files=tuple(files[:MAX_FILES_PER_ORDER]), status_etag=status_etag)

    def read_status(self, order_id: str) -> bytes | None:
        """The status object's bytes (at most ``MAX_STATUS_BYTES`` + 1), or ``None`` when
        there is none. Raises ``FilesUnavailable``."""
        prefix = self.prefix_for(order_id)
        if prefix is None:
            return None
        try:
            answer = self._client.get_object(
                Bucket=self._bucket,
                Key=prefix + STATUS_OBJECT_NAME,
                Range=f"bytes=0-{MAX_STATUS_BYTES}",
            )
            return bytes(answer["Body"].read(MAX_STATUS_BYTES + 1))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            log.warning("S3 read of a status object failed: %s", type(exc).__name__)
            raise FilesUnavailable("S3 did not answer") from exc
        except BotoCoreError as exc:
            log.warning("S3 read of a status object failed: %s", type(exc).__name__)
            raise FilesUnavailable("S3 did not answer") from exc

    def has_files(self, order_id: str) -> bool:
        """Whether any file is under the order's prefix yet: one small listing, for the
        order list's 「ダウンロードできます」 / 「準備中」. Raises ``FilesUnavailable``."""
        prefix = self.prefix_for(order_id)
        if prefix is None:
            return False
        try:
            page = self._client.list_objects_v2(Bucket=self._bucket, Prefix=prefix, MaxKeys=10)
        except (BotoCoreError, ClientError) as exc:
            log.warning("S3 listing failed for bucket %s: %s", self._bucket, type(exc).__name__)
            metrics.S3_ERRORS.labels(operation="list").inc()
            raise FilesUnavailable("S3 did not answer") from exc
        names = (obj["Key"][len(prefix) :] for obj in page.get("Contents", []))
        # The pipeline's status object is never a file (a failed order has only that).
        return any(name and not name.endswith("/") and name != STATUS_OBJECT_NAME for name in names)

    def download_url(self, order_id: str, name: str, save_as: str | None = None) -> str:
        """A presigned GET for a listed file that saves as ``save_as`` (default: its own
        name) and soon expires."""
        prefix = self.prefix_for(order_id)
        if prefix is None:  # callers only pass names from list_files; keep it impossible
            raise FilesUnavailable("order has no file prefix")
        try:
            return self._client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self._bucket,
                    "Key": prefix + name,
                    "ResponseContentDisposition": content_disposition(save_as or name),
                },
                ExpiresIn=self._ttl,
            )
        except (BotoCoreError, ClientError) as exc:
            log.warning("S3 signing failed: %s", type(exc).__name__)
            metrics.S3_ERRORS.labels(operation="presign").inc()
            raise FilesUnavailable("could not sign the download") from exc


def content_disposition(name: str) -> str:
    """``attachment`` with an RFC 6266 filename: ASCII fallback plus UTF-8 ``filename*``."""
    basename = name.rsplit("/", 1)[-1]
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in basename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(basename, safe='')}"


def _deliverable(name: str, obj: Any) -> Deliverable:
    return Deliverable(
        name=name,
        size=int(obj.get("Size", 0)),
        last_modified=obj["LastModified"],
        checksum=str(obj.get("ETag", "")).strip('"')[:8],
    )
