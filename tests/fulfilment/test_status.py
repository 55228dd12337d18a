"""The status object a shop's pipeline writes: its documented format, read strictly."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from portal.fulfilment.status import (
    MAX_STATUS_BYTES,
    FulfilmentState,
    InvalidStatus,
    parse_status,
)


def _body(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def test_the_documented_example_reads_with_every_field():
    status = parse_status(
        _body(
            state="processing",
            updated_at="2026-11-23T14:05:00+09:00",
            ready_by="2026-11-23T18:00:00+09:00",
            message={"ja": "写真を補正しています。", "en": "Retouching your photos."},
        )
    )
    assert status.state is FulfilmentState.PROCESSING
    assert status.updated_at == datetime(2026, 11, 23, 5, 5, tzinfo=UTC)
    assert status.ready_by == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert status.message("ja") == "写真を補正しています。"
    assert status.message("en") == "Retouching your photos."


def test_only_the_state_is_required():
    status = parse_status(b'{"state": "queued"}')
    assert status.state is FulfilmentState.QUEUED
    assert status.updated_at is None and status.ready_by is None
    assert status.message("ja") is None


def test_a_plain_string_message_is_shown_in_every_language():
    status = parse_status(_body(state="failed", message="Please wait for our email."))
    assert status.message("ja") == status.message("en") == "Please wait for our email."


def test_unix_seconds_are_accepted_as_times():
    assert parse_status(_body(state="done", updated_at=1_764_000_000)).updated_at == (
        datetime.fromtimestamp(1_764_000_000, tz=UTC)
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"not json", "not JSON"),
        (b"[]", "not a JSON object"),
        (_body(state="finished"), "state must be one of"),
        (_body(), "state must be one of"),
        (_body(state="done", updated_at="yesterday"), "updated_at is not an ISO 8601 time"),
        (_body(state="done", ready_by="2026-11-23T18:00:00"), "ready_by needs a time zone"),
        (_body(state="done", message=["x"]), "message must be a string or an object"),
        (_body(state="done", message={"ja": 1}), "each message must be a string"),
        (_body(state="done", message="x" * 501), "longer than 500"),
        (b" " * (MAX_STATUS_BYTES + 1), "larger than"),
    ],
)
def test_a_malformed_status_object_says_what_is_wrong(body, problem):
    with pytest.raises(InvalidStatus, match=problem):
        parse_status(body)
