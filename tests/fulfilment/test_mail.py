"""The buyer's "files ready" mail through SES: once, in both languages, never a file link."""

from __future__ import annotations

import time

import boto3
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from portal.cli import main
from tests.fulfilment.shop import ALICE, order, put_file

SENDER = "Photo Shop Sakura <orders@sakura.example.jp>"


@pytest.fixture
def mail_on(environment):  # type: ignore[no-untyped-def]
    boto3.client("ses", region_name="us-east-1").verify_email_identity(
        EmailAddress="orders@sakura.example.jp"
    )
    environment.setenv("PORTAL_MAIL_FROM", SENDER)
    return environment


def _sent() -> list:
    return list(ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages)


def test_files_that_appear_are_mailed_once_in_japanese_and_english(mail_on, stripe_api, s3, capsys):
    session = order(stripe_api, "MAIL-1", created=int(time.time()) - 600)
    assert main(["watch"]) == 0  # mail switched on: nothing ready yet
    put_file(s3, "MAIL-1", "photo.zip")
    assert main(["watch"]) == 0
    assert main(["watch"]) == 0
    (mail,) = _sent()
    assert mail.destinations["ToAddresses"] == [ALICE]
    assert mail.subject == "【Photo Shop Sakura】ご注文 MAIL-1 のファイルの準備ができました"
    assert "Photo Shop Sakura" in mail.body and "MAIL-1" in mail.body
    assert f"https://portal.example.jp/orders/{session['id']}" in mail.body
    assert "ファイルの準備ができました" in mail.body and "are ready" in mail.body
    assert "photo.zip" not in mail.body and "/files/" not in mail.body
    assert "1 ready mails sent" in capsys.readouterr().out


def test_files_ready_before_mail_was_switched_on_are_not_mailed(mail_on, stripe_api, s3):
    order(stripe_api, "OLD-1", created=int(time.time()) - 600)
    put_file(s3, "OLD-1", "photo.zip")
    time.sleep(1.1)
    assert main(["watch"]) == 0
    assert _sent() == []


def test_the_shops_own_name_is_used_in_each_language(mail_on, stripe_api, s3):
    mail_on.setenv("PORTAL_SHOP_NAME_JA", "写真館さくら")
    mail_on.setenv("PORTAL_SHOP_NAME_EN", "Sakura Photo")
    order(stripe_api, "MAIL-2", created=int(time.time()) - 600)
    assert main(["watch"]) == 0
    put_file(s3, "MAIL-2", "photo.zip")
    assert main(["watch"]) == 0
    (mail,) = _sent()
    assert mail.subject.startswith("【写真館さくら】")
    assert "写真館さくらをご利用いただき" in mail.body and "order at Sakura Photo" in mail.body
