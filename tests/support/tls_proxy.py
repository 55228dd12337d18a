"""nginx terminating TLS in front of a test portal, from the repository's own config.

``config/nginx/order-portal.conf`` is the file a shop deploys. Here it is rendered for a
temporary folder — loopback ports, a certificate made for the run, the portal's port as the
upstream — and run by Debian's ``nginx`` (``tests/system-packages``), so https behaviour
(Secure cookies, forwarded headers, referrers) is tested through a real TLS proxy.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from portal.devstack.serving import free_port

ROOT = Path(__file__).resolve().parents[2]
SITE_CONFIG = ROOT / "config" / "nginx" / "order-portal.conf"
NGINX = "/usr/sbin/nginx"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Certificate:
    """A throw-away CA and the server certificate it signed for 127.0.0.1 and localhost."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class TlsProxy:
    """A running nginx: ``url`` is the portal's https address, ``ca`` verifies it."""

    url: str
    http_url: str
    ca: Path
    folder: Path

    @property
    def access_log(self) -> Path:
        return self.folder / "access.log"


def make_certificate(folder: Path) -> Certificate:
    """A CA and a server certificate signed by it (what ``requests`` can verify)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Order Portal test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificate(ca=folder / "ca.pem", cert=folder / "server.pem", key=folder / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths.key.chmod(0o600)
    return paths


def _usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def render_site(text: str, replacements: Mapping[str, str]) -> str:
    """``text`` with each deploy-time value replaced; every one of them must be there, so a
    change to the shipped config cannot silently leave a production value in the test."""
    for deployed, local in replacements.items():
        if deployed not in text:
            raise AssertionError(f"{SITE_CONFIG.name} no longer contains {deployed!r}")
        text = text.replace(deployed, local)
    return text


def site_replacements(
    *, https_port: int, http_port: int, upstream: str, cert: Certificate
) -> dict[str, str]:
    """What differs between the shop's server and this test: ports, names, certificate."""
    return {
        "server 127.0.0.1:8000;": f"server {upstream};",
        "listen 80;": f"listen {HOST}:{http_port};",
        "listen [::]:80;": "",
        "listen 443 ssl http2;": f"listen {HOST}:{https_port} ssl http2;",
        "listen [::]:443 ssl http2;": "",
        "server_name portal.example.jp;": f"server_name {HOST} localhost;",
        "/etc/ssl/certs/order-portal.pem": str(cert.cert),
        "/etc/ssl/private/order-portal.key": str(cert.key),
        "/srv/order-portal/static/": f"{ROOT / 'static'}/",
    }


def main_config(folder: Path, site: Path) -> str:
    """A top-level nginx.conf like Debian's, keeping every file nginx writes in ``folder``."""
    user = "user root root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {folder / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}worker_processes 1;
daemon off;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} info;
events {{
    worker_connections 256;
}}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    access_log {folder / "access.log"};
{temp}
    include {site};
}}
"""


@contextmanager
def tls_proxy(upstream: str, folder: Path, *, https_port: int | None = None) -> Iterator[TlsProxy]:
    """Run nginx with the shipped site config in front of ``upstream`` (``host:port``).

    ``https_port`` may be picked beforehand, since the portal must know its public URL
    before it starts.
    """
    if not Path(NGINX).exists():
        raise AssertionError(f"{NGINX} is missing: `make test` installs nginx")
    folder.mkdir(parents=True, exist_ok=True)
    cert = make_certificate(folder)
    https_port = https_port or free_port()
    http_port = free_port()
    site = folder / "order-portal.conf"
    site.write_text(
        render_site(
            SITE_CONFIG.read_text(),
            site_replacements(
                https_port=https_port, http_port=http_port, upstream=upstream, cert=cert
            ),
        )
    )
    conf = folder / "nginx.conf"
    conf.write_text(main_config(folder, site))
    check = subprocess.run(
        [NGINX, "-t", "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if check.returncode != 0:
        raise AssertionError(f"nginx -t refused the config:\n{check.stderr}")
    process = subprocess.Popen(
        [NGINX, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_for_port(https_port, process)
        yield TlsProxy(
            url=f"https://{HOST}:{https_port}",
            http_url=f"http://{HOST}:{http_port}",
            ca=cert.ca,
            folder=folder,
        )
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"nginx exited with {process.returncode}: {error}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port} within {seconds} s")
