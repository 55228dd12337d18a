"""Sessions that never dead-end: logout always logs out, an ended login says why, and a
button pressed after the idle limit asks for a login and then finishes what was asked."""

from __future__ import annotations

import re
import time

from tests.conftest import AuthActions
from tests.support.stripe_fixtures import checkout_session

ALICE = "alice@example.com"


def _csrf(client) -> str:  # type: ignore[no-untyped-def]
    page = client.get("/orders").get_data(as_text=True)
    return page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def _idle_for(client, minutes: int) -> None:  # type: ignore[no-untyped-def]
    with client.session_transaction() as session:
        session["customer"]["seen"] = time.time() - minutes * 60


def _billing_customer(stripe_api) -> None:  # type: ignore[no-untyped-def]
    session = checkout_session(ALICE, reference="CUST")
    session["customer"] = "cus_alice"
    stripe_api.add(session)
    stripe_api.mock.post(
        "https://api.stripe.com/v1/billing_portal/sessions",
        json={
            "id": "bps_1",
            "object": "billing_portal.session",
            "url": "https://billing.example/p",
        },
    )


def test_logout_says_you_have_been_logged_out(client, logged_in, stripe_api):
    response = client.post("/logout", data={"csrf_token": _csrf(client)})
    assert response.status_code == 302
    home = client.get("/")
    assert "You have been logged out." in home.get_data(as_text=True)
    assert "You have been logged out." not in client.get("/").get_data(as_text=True)


def test_logout_after_the_idle_limit_still_ends_on_logged_out(client, logged_in, stripe_api):
    token = _csrf(client)
    _idle_for(client, 31)
    response = client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert "You have been logged out." in client.get("/").get_data(as_text=True)
    assert client.get("/orders").status_code in (302, 401)


def test_logout_with_a_stale_token_from_this_site_logs_out(client, logged_in, stripe_api):
    response = client.post(
        "/logout", data={"csrf_token": "stale"}, headers={"Origin": "http://localhost"}
    )
    assert response.status_code == 302
    assert client.get("/orders").status_code == 302


def test_a_cross_site_logout_asks_first(client, logged_in, stripe_api):
    response = client.post(
        "/logout", data={"csrf_token": "forged"}, headers={"Origin": "http://evil.example"}
    )
    assert response.status_code == 400
    assert "Log out?" in response.get_data(as_text=True)
    assert client.get("/orders").status_code == 200


def test_an_idle_login_says_why_it_is_asked_again(client, logged_in, stripe_api):
    _idle_for(client, 31)
    response = client.get("/orders?status=paid")
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "after 30 minutes without activity" in page
    assert 'href="/auth/login?next=%2Forders%3Fstatus%3Dpaid"' in page


def test_a_visitor_who_never_logged_in_goes_straight_to_the_provider(client):
    response = client.get("/orders/cs_test_1")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/login?next=%2Forders%2Fcs_test_1"


def test_billing_after_the_idle_limit_logs_in_again_and_then_opens_billing(
    client, auth, logged_in, stripe_api
):
    _billing_customer(stripe_api)
    token = _csrf(client)
    _idle_for(client, 31)
    asked = client.post("/orders/billing", data={"csrf_token": token})
    assert asked.status_code == 401
    page = asked.get_data(as_text=True)
    assert "after 30 minutes without activity" in page
    assert "Manage billing and invoices" in page
    login_url = re.search(r'href="(/auth/login\?next=[^"]+)"', page)
    assert login_url is not None

    # The customer logs in again; the portal finishes what was asked.
    authorize = auth.start(next_path="/auth/resume?action=orders.billing")
    back = client.get(auth.authorize(authorize, f"sub-{ALICE}"))
    assert back.headers["Location"] == "/auth/resume?action=orders.billing"
    resume = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "data-auto-submit" in resume and "resume.js" in resume
    fresh = re.search(r'name="csrf_token" value="([^"]+)"', resume)
    assert fresh is not None
    done = client.post("/orders/billing", data={"csrf_token": fresh.group(1)})
    assert done.status_code == 303
    assert done.headers["Location"] == "https://billing.example/p"


def test_the_resume_page_does_not_submit_by_itself_unless_just_logged_in_for_it(
    client, logged_in, stripe_api
):
    page = client.get("/auth/resume?action=orders.billing").get_data(as_text=True)
    assert "data-auto-submit" not in page
    assert "Manage billing and invoices" in page


def test_only_known_actions_resume(client, logged_in):
    assert client.get("/auth/resume?action=auth.logout").status_code == 404


def test_an_expired_form_while_logged_in_is_still_the_expired_form_page(
    client, logged_in, stripe_api
):
    response = client.post("/orders/billing", data={"csrf_token": "stale"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_logging_in_again_forgets_the_idle_ending(client, auth, logged_in, stripe_api, idp_url):
    _idle_for(client, 31)
    assert client.get("/orders").status_code == 401
    AuthActions(client, idp_url).login(ALICE)
    assert client.get("/orders").status_code == 200
    assert "without activity" not in client.get("/orders").get_data(as_text=True)


def test_billing_after_the_session_is_gone_from_the_store_still_asks_for_login(
    client, logged_in, stripe_api
):
    token = _csrf(client)
    client.delete_cookie("portal")  # the store dropped it: no session, no CSRF token
    asked = client.post("/orders/billing", data={"csrf_token": token})
    assert asked.status_code == 401
    page = asked.get_data(as_text=True)
    assert "Manage billing and invoices" in page
    assert "/auth/login?next=/auth/resume?action%3Dorders.billing" in page
