"""What the buyer sees while an order's files are prepared, in Japanese and English."""

from __future__ import annotations

import logging
import time

import pytest

from portal.shop import Shop
from tests.conftest import BUCKET, with_settings
from tests.fulfilment.shop import key, paid_order, put_file, put_status

ALICE = "alice@example.com"
HOUR = 3600
DELAYED_JA = "準備に時間がかかっています。"
NOTIFIED_JA = "ショップに通知済みです。お手続きは不要です。"


@pytest.fixture
def settings(settings):  # type: ignore[no-untyped-def]
    return with_settings(settings, shop=Shop(support_email="help@shop.example.jp"))


def _paid_order(stripe_api, reference: str, *, paid_hours_ago: float, created_hours_ago=None):
    """A paid order whose payment arrived ``paid_hours_ago`` (konbini: after the order)."""
    return paid_order(
        stripe_api,
        reference,
        hours_ago=created_hours_ago or paid_hours_ago,
        paid_hours_ago=paid_hours_ago,
        email=ALICE,
    )


def _page(client, session, language: str = "en") -> str:
    response = client.get(f"/orders/{session['id']}", headers={"Accept-Language": language})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_status_object_is_never_listed_nor_downloadable(client, logged_in, stripe_api, s3):
    session = _paid_order(stripe_api, "LISTED", paid_hours_ago=1)
    put_file(s3, "LISTED")
    put_status(s3, "LISTED", state="done")
    html = _page(client, session)
    assert "result.txt" in html and "_status.json" not in html
    assert client.get(f"/orders/{session['id']}/files/_status.json").status_code == 404


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "ja",
            [
                "ファイルを準備しています。",
                "から準備を進めています。",
                "通常 24 時間以内にお届けします。",
            ],
        ),
        (
            "en",
            ["Your files are being prepared.", "In progress since", "within 24 hours of payment"],
        ),
    ],
)
def test_a_fresh_paid_order_is_being_prepared_with_the_usual_time(
    client, logged_in, stripe_api, s3, language, expected
):
    session = _paid_order(stripe_api, "FRESH", paid_hours_ago=1)
    html = _page(client, session, language)
    for text in expected:
        assert text in html
    assert 'data-poll="/orders/' in html and "/static/fulfilment.js" in html


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "ja",
            [
                "ご注文を受け付けました。順番に準備いたします。",
                "ごろにお届けの予定です。",
                "補正中です",
            ],
        ),
        ("en", ["Your order is waiting its turn to be prepared.", "Expected by", "Retouching"]),
    ],
)
def test_the_pipelines_queue_estimate_and_message_are_shown(
    client, logged_in, stripe_api, s3, language, expected
):
    session = _paid_order(stripe_api, "QUEUED", paid_hours_ago=1)
    ready_by = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2 * HOUR))
    message = {"ja": "写真を補正中です。", "en": "Retouching your photos."}
    put_status(s3, "QUEUED", state="queued", ready_by=ready_by, message=message)
    html = _page(client, session, language)
    for text in expected:
        assert text in html


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ja", [DELAYED_JA, NOTIFIED_JA, "この注文についてショップに問い合わせる"]),
        (
            "en",
            [
                "Preparing your files is taking longer than usual.",
                "The shop has been notified. You do not need to do anything.",
                "Contact the shop about this order",
            ],
        ),
    ],
)
def test_an_order_past_its_usual_time_says_the_shop_knows_with_the_contact(
    client, logged_in, stripe_api, s3, language, expected
):
    session = _paid_order(stripe_api, "LATE", paid_hours_ago=30)
    html = _page(client, session, language)
    for text in expected:
        assert text in html
    assert 'href="mailto:help@shop.example.jp?subject=' in html


@pytest.mark.parametrize("language", ["ja", "en"])
def test_a_failed_pipeline_shows_the_delay_never_its_internal_error(
    client, logged_in, stripe_api, s3, language
):
    session = _paid_order(stripe_api, "FAILED", paid_hours_ago=1)
    put_status(s3, "FAILED", state="failed", error="Traceback: KeyError 'dpi' in /srv/app.py")
    html = _page(client, session, language)
    assert (DELAYED_JA if language == "ja" else "taking longer than usual") in html
    assert "Traceback" not in html and "/srv/app.py" not in html


def test_a_konbini_order_starts_the_clock_at_payment_not_at_order(
    client, logged_in, stripe_api, s3
):
    session = _paid_order(stripe_api, "KONBINI", paid_hours_ago=2, created_hours_ago=72)
    html = _page(client, session)
    assert "Your files are being prepared." in html
    assert "taking longer than usual" not in html


def test_without_a_shop_contact_the_delay_has_no_contact_link(
    app, client, logged_in, stripe_api, s3
):
    app.extensions["portal.shop"] = Shop()
    session = _paid_order(stripe_api, "NOCONTACT", paid_hours_ago=30)
    html = _page(client, session)
    assert "taking longer than usual" in html and "Contact the shop" not in html


@pytest.mark.parametrize(
    ("language", "expected"), [("ja", "ダウンロードできるファイルはありません"), ("en", "no files")]
)
def test_done_without_files_says_there_is_nothing_to_download(
    client, logged_in, stripe_api, s3, language, expected
):
    session = _paid_order(stripe_api, "NOTHING", paid_hours_ago=30)
    put_status(s3, "NOTHING", state="done")
    html = _page(client, session, language)
    assert expected in html and "/static/fulfilment.js" not in html


def test_a_malformed_status_object_is_ignored_and_logged(client, logged_in, stripe_api, s3, caplog):
    session = _paid_order(stripe_api, "BROKEN", paid_hours_ago=1)
    s3.put_object(Bucket=BUCKET, Key=key("BROKEN", "_status.json"), Body=b"{oops")
    with caplog.at_level(logging.WARNING, logger="portal.fulfilment"):
        html = _page(client, session)
    assert "Your files are being prepared." in html
    assert "status object of order BROKEN ignored: not JSON" in caplog.text
