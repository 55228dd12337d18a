"""Random paths, queries, headers, cookies and webhook bodies: never a 5xx, a traceback or
another customer's data. Hypothesis drives each; the volume is in ``FUZZ_EXAMPLES``."""

from __future__ import annotations

import json
import os
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.deliveries import fulfil
from tests.support.stripe_fixtures import checkout_session
from tests.test_webhooks import sign

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
THEIRS = "MALLORYS-SECRET-ORDER"

ROUTES = [
    "/",
    "/healthz",
    "/orders",
    "/orders.json",
    "/orders.csv",
    "/orders/return",
    "/orders/{sid}",
    "/orders/{sid}/files/{name}",
    "/auth/login",
    "/auth/callback",
    "/buy/{name}",
    "/webhooks/stripe",
    "/logout",
    "/orders/billing",
    "/static/portal.css",
]
text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60)
segment = st.text(alphabet=string.ascii_letters + string.digits + "-_.~%!$&'()*+,;=:@", max_size=40)


@pytest.fixture
def world(app, client, stripe_api, s3, auth):  # type: ignore[no-untyped-def]
    """Alice logged in; Mallory has an order and a file Alice must never see."""
    theirs = checkout_session("mallory@example.com", reference=THEIRS)
    stripe_api.add(theirs, checkout_session("alice@example.com", reference="ALICES-ORDER"))
    fulfil(s3, theirs, "secret.zip")
    app.config["RATELIMIT_ENABLED"] = False
    app.extensions["portal.limiter"].enabled = False
    auth.login("alice@example.com")
    return client, theirs["id"]


def _safe(response, theirs: str) -> None:  # type: ignore[no-untyped-def]
    body = response.get_data(as_text=True)
    assert response.status_code < 500, (response.status_code, body[:300])
    assert "Traceback" not in body
    assert THEIRS not in body and "secret.zip" not in body
    # No redirect leads into Mallory's files either (a presigned URL names the key).
    assert THEIRS not in response.headers.get("Location", "")
    assert theirs not in body or response.status_code == 404


@FUZZ
@given(
    route=st.sampled_from(ROUTES),
    sid=st.one_of(segment, st.just("cs_test_a1" + "0" * 56)),
    name=segment,
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"]),
    query=st.dictionaries(
        st.sampled_from(
            ["page", "next", "session_id", "status", "from", "to", "q", "code", "state", "error"]
        ),
        text,
        max_size=4,
    ),
)
def test_any_route_with_any_method_and_query_is_answered_safely(
    world, route, sid, name, method, query
):
    client, theirs = world
    path = route.format(sid=sid or "x", name=name or "x")
    _safe(client.open(path, method=method, query_string=query), theirs)


@FUZZ
@given(path=st.text(alphabet=string.printable.strip() + "é漢%", min_size=1, max_size=80))
def test_any_path_is_answered_safely(world, path):
    client, theirs = world
    _safe(client.get("/" + path.lstrip("/")), theirs)


@FUZZ
@given(
    headers=st.dictionaries(
        st.sampled_from(
            [
                "Accept",
                "Accept-Language",
                "X-Forwarded-For",
                "X-Forwarded-Proto",
                "X-Forwarded-Host",
                "X-Request-Id",
                "Content-Type",
                "Referer",
                "Origin",
            ]
        ),
        st.text(alphabet=string.printable.replace("\r", "").replace("\n", ""), max_size=60),
        max_size=5,
    ),
    cookie=st.text(alphabet=string.ascii_letters + string.digits + "=;._-", max_size=80),
)
def test_any_headers_and_cookies_are_answered_safely(world, headers, cookie):
    client, theirs = world
    response = client.get("/orders", headers={**headers, "Cookie": f"portal={cookie}"})
    _safe(response, theirs)
    _safe(client.get(f"/orders/{theirs}", headers=headers), theirs)


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | text,
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
            max_leaves=12,
        ).map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {
                "id": text,
                "object": st.just("event"),
                "type": text,
                "data": st.fixed_dictionaries({"object": st.dictionaries(text, text)}),
            }
        ).map(lambda v: json.dumps(v).encode()),
    )
)
def test_any_signed_webhook_body_is_a_200_or_400(world, body):
    client, _ = world
    response = client.post(
        "/webhooks/stripe",
        data=body,
        headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"},
    )
    assert response.status_code in (200, 400), response.get_data(as_text=True)[:300]
