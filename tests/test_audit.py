"""The audit trail: one JSON line per security event, with nothing secret in it."""

from __future__ import annotations

import json
import logging

import pytest

from tests.support.deliveries import fulfil
from tests.support.stripe_fixtures import checkout_session
from tests.test_webhooks import event, post


@pytest.fixture
def audit_lines(caplog):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.INFO, logger="portal.audit")

    def lines() -> list[dict]:
        records = [r for r in caplog.records if r.name == "portal.audit"]
        for r in records:
            assert "\n" not in r.getMessage() and "\r" not in r.getMessage()
        return [json.loads(r.getMessage()) for r in records]

    return lines


def test_login_and_logout_are_recorded_with_a_masked_email(client, auth, stripe_api, audit_lines):
    callback = auth.login("alice@example.com")
    page = client.get("/orders").get_data(as_text=True)
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    client.post("/logout", data={"csrf_token": token})
    login, logout = audit_lines()
    assert login["event"] == "login" and login["who"] == "a***@example.com"
    assert logout["event"] == "logout" and logout["ip"] == "127.0.0.1"
    text = json.dumps(audit_lines())
    assert "alice@" not in text and "code=" not in text and callback.status_code == 302


def test_a_failed_login_is_recorded_with_its_reason(client, auth, audit_lines):
    auth.login("eve@example.com", verified=False)
    (line,) = audit_lines()
    assert line["event"] == "login_failed" and line["reason"] == "email_unverified"


def test_a_refused_webhook_is_recorded_without_its_signature(client, audit_lines):
    post(client, event(), "t=1,v1=deadbeefdeadbeef")
    (line,) = audit_lines()
    assert line["event"] == "webhook_refused"
    assert "deadbeef" not in json.dumps(line)


def test_a_download_is_recorded_without_the_presigned_url(
    client, logged_in, stripe_api, s3, audit_lines
):
    session = checkout_session("alice@example.com", reference="AUDIT-1")
    stripe_api.add(session)
    fulfil(s3, session, "r.zip")
    client.get(f"/orders/{session['id']}/files/r.zip", headers={"X-Request-Id": "req-abc-12345"})
    line = audit_lines()[-1]
    assert line == {
        "event": "download",
        "ip": "127.0.0.1",
        "request_id": "req-abc-12345",
        "who": "a***@example.com",
        "order": session["id"],
        "file": "r.zip",
    }
    assert "X-Amz" not in json.dumps(line)


def test_a_forged_request_id_is_replaced(client, auth, audit_lines):
    auth.set_user("sub-x", email="x@example.com", email_verified=True)
    callback = auth.authorize(auth.start(), "sub-x")
    forged = 'abc","event":"login","who":"admin'
    response = client.get(callback, headers={"X-Request-Id": forged})
    (line,) = audit_lines()
    assert line["request_id"] != forged and response.headers["X-Request-Id"] == line["request_id"]


def test_a_line_break_in_a_value_cannot_forge_a_line(app, audit_lines):
    from portal import audit

    with app.test_request_context("/"):
        audit.record("download", file='x.zip\r\n{"event":"login","who":"admin"}')
    (line,) = audit_lines()
    assert line["file"].startswith("x.zip\r\n")


def test_spoofed_forwarding_headers_change_neither_the_logged_ip_nor_cookie_flags(
    client, auth, audit_lines
):
    auth.set_user("sub-s", email="s@example.com", email_verified=True)
    callback = auth.authorize(auth.start(), "sub-s")
    spoof = {"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"}
    response = client.get(callback, headers=spoof)
    (line,) = audit_lines()
    assert line["ip"] == "127.0.0.1"
    cookies = response.headers.getlist("Set-Cookie")
    cookie = next(c for c in cookies if c.startswith("portal="))
    assert "Secure" not in cookie
