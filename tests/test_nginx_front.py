"""gunicorn behind the shipped nginx site, as the README deploys it: slow clients wait in
nginx, static files never reach Python, health checks stay quick."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest
import requests

from portal.devstack.serving import free_port
from tests.support.gunicorn_server import gunicorn_server
from tests.support.tls_proxy import TlsProxy, tls_proxy
from tests.test_settings import GOOD

#: More half-sent requests than one gunicorn worker has threads (8), times two workers.
SLOW_CLIENTS = 24


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsProxy]:
    https_port = free_port()
    env = {
        **GOOD,
        "PORTAL_PUBLIC_URL": f"https://127.0.0.1:{https_port}",
        "PORTAL_TRUSTED_PROXIES": "1",
        "PORTAL_METRICS_BIND": "off",
    }
    with gunicorn_server(env, "--workers", "2") as url:
        upstream = url.removeprefix("http://")
        folder = tmp_path_factory.mktemp("nginx-front")
        with tls_proxy(upstream, folder, https_port=https_port) as proxy:
            yield proxy


def _get(proxy: TlsProxy, path: str) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.get(proxy.url + path, verify=str(proxy.ca), timeout=5)


def test_static_files_are_served_by_nginx_not_the_portal(deployed):
    response = _get(deployed, "/static/portal.css")
    assert response.status_code == 200
    assert "max-age=3600" in response.headers["Cache-Control"]
    assert "X-Request-Id" not in response.headers  # the portal stamps every answer it gives


def test_clients_that_never_finish_their_headers_hold_no_gunicorn_thread(deployed):
    context = ssl.create_default_context(cafile=str(deployed.ca))
    port = int(deployed.url.rsplit(":", 1)[1])
    trickling = []
    try:
        for _ in range(SLOW_CLIENTS):
            raw = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            trickling.append(sock)
        # Every thread of both workers would be pinned if these reached gunicorn.
        assert _get(deployed, "/healthz").status_code == 200
        assert _get(deployed, "/readyz").json() == {"status": "ready"}
    finally:
        for sock in trickling:
            sock.close()
