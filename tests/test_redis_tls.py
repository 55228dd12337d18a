"""A managed Redis over TLS (``rediss://``, as ElastiCache or Memorystore serve it) with a
private CA: logins, the cache and the limits live there, and a certificate that does not
verify stops the start with one line."""

from __future__ import annotations

import pytest
import redis

from portal import create_app
from portal.cache_store import check_backend, make_backend
from tests.conftest import AuthActions, with_settings
from tests.support.redis_server import RedisProcess
from tests.support.stripe_fixtures import checkout_session
from tests.support.tls_proxy import make_certificate

ALICE = "alice@example.com"


@pytest.fixture
def tls_redis(tmp_path):
    server = RedisProcess(tmp_path / "tls", tls=make_certificate(tmp_path))
    server.start()
    yield server
    server.stop()


def test_a_managed_redis_over_tls_holds_logins_cache_and_limits(
    settings, s3, stripe_api, idp_url, tls_redis
):
    app = create_app(with_settings(settings, cache_url=tls_redis.url))
    customer = app.test_client()
    AuthActions(customer, idp_url).login(ALICE)
    stripe_api.add(checkout_session(ALICE, reference="TLS-1"))
    assert "TLS-1" in customer.get("/orders").get_data(as_text=True)
    keys = {key.decode() for key in redis.Redis.from_url(tls_redis.url).keys("*")}
    assert any(key.startswith("order-portal:session:") for key in keys)
    assert any(key.startswith("order-portal:list:") for key in keys)
    assert any(key.startswith("LIMITS:") for key in keys)


def test_a_redis_certificate_that_does_not_verify_stops_the_start(tls_redis):
    unverified = tls_redis.url.partition("?")[0]  # the test CA is not among the system's
    with pytest.raises(ConnectionError, match=r"^Redis is not answering \(ConnectionError\)$"):
        check_backend(make_backend(unverified))
