"""``private_key_jwt``: the portal proves who it is at the token endpoint with a JWT signed
by its own key, against panva's oidc-provider with a client registered for it.

The provider holds the portal's public keys exactly as ``portal oidc-public-jwk`` prints
them (one RSA, one EC P-256); a key it does not hold is its ``invalid_client``, which the
customer sees as the "did not complete" page and the operator as a log line naming the
method and the key.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import subprocess
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from portal.auth.client_key import ASSERTION_SECONDS, client_key
from portal.cli import main
from portal.oidc_setting_values import PrivateKey, certificate_file, private_key_file
from tests.support.panva import CLIENT_ID, PROFILES, PanvaProvider, run_provider
from tests.test_check_config_online import check
from tests.test_providers import Journey, assert_whole_journey, portal_for

#: How the README tells a shop to make its key.
OPENSSL_GENPKEY = {
    "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "ec": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
}


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)  # noqa: S607


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shop's keys as PEM files: two registered at the provider, one not."""
    folder = tmp_path_factory.mktemp("client-keys")
    files = {"rsa": "rsa", "ec": "ec", "stranger": "rsa"}
    for name, kind in files.items():
        _openssl("genpkey", *OPENSSL_GENPKEY[kind], "-out", str(folder / f"{name}.pem"))
    return {name: folder / f"{name}.pem" for name in files}


def public_jwk_set(key_file: Path) -> dict[str, list[dict[str, str]]]:
    """What the shop pastes into the provider: ``portal oidc-public-jwk <file>``'s output."""
    out = io.StringIO()
    with redirect_stdout(out):
        assert main(["oidc-public-jwk", str(key_file)]) == 0
    return dict(json.loads(out.getvalue()))


@pytest.fixture(scope="module")
def provider(key_files: dict[str, Path]) -> Iterator[PanvaProvider]:
    registered = [public_jwk_set(key_files[name])["keys"][0] for name in ("rsa", "ec")]
    profile = replace(PROFILES["private-key-jwt"], client_jwks={"keys": registered})
    with run_provider(profile) as running:
        yield running


def key(key_files: dict[str, Path], name: str) -> PrivateKey:
    return private_key_file(str(key_files[name]))


@pytest.mark.parametrize(("name", "alg"), [("rsa", "RS256"), ("ec", "ES256")])
def test_private_key_jwt_logs_in_shows_orders_and_logs_out(
    provider, key_files, settings, s3, stripe_api, name, alg
):
    journey = Journey(portal_for(settings, provider, oidc_private_key=key(key_files, name)))
    assert_whole_journey(journey, provider)

    assertion = provider.client_assertions()[-1]
    assert assertion["header"]["alg"] == alg
    assert assertion["header"]["kid"] == client_key(key(key_files, name)).kid


def test_each_assertion_is_the_client_for_the_token_endpoint_short_lived_and_unique(
    provider, key_files, settings, s3, stripe_api
):
    app = portal_for(settings, provider, oidc_private_key=key(key_files, "rsa"))
    seen = len(provider.client_assertions())
    assert Journey(app).login().status_code == 302
    assert Journey(app).login().status_code == 302

    first, second = (a["claims"] for a in provider.client_assertions()[seen:])
    assert first["iss"] == first["sub"] == CLIENT_ID
    assert first["aud"] == f"{provider.issuer}/token"
    assert 0 < first["exp"] - first["iat"] <= ASSERTION_SECONDS
    assert first["jti"] != second["jti"]


def test_the_assertion_can_name_the_issuer_as_its_audience_as_auth0_asks(
    provider, key_files, settings, s3, stripe_api
):
    app = portal_for(
        settings,
        provider,
        oidc_private_key=key(key_files, "ec"),
        oidc_assertion_audience="issuer",
    )
    assert Journey(app).login().status_code == 302
    assert provider.client_assertions()[-1]["claims"]["aud"] == provider.issuer


def _certificate_of(key_file: Path, folder: Path) -> Path:
    """What an Entra shop uploads: a self-signed certificate of the portal's key."""
    path = folder / "portal.crt"
    _openssl(
        "req",
        "-new",
        "-x509",
        "-key",
        str(key_file),
        "-subj",
        "/CN=portal",
        "-days",
        "730",
        "-out",
        str(path),
    )
    return path


def test_with_a_certificate_the_assertion_names_it_by_its_thumbprints_as_entra_asks(
    provider, key_files, settings, s3, stripe_api, tmp_path
):
    path = _certificate_of(key_files["rsa"], tmp_path)
    certificate = certificate_file(str(path))
    app = portal_for(
        settings,
        provider,
        oidc_private_key=key(key_files, "rsa"),
        oidc_certificate=certificate,
    )
    assert Journey(app).login().status_code == 302

    header = provider.client_assertions()[-1]["header"]
    der = certificate.public_bytes(serialization.Encoding.DER)
    assert header["x5t#S256"] == _b64url(hashlib.sha256(der).digest())
    assert header["x5t"] == _b64url(hashlib.sha1(der).digest())  # noqa: S324 (a name)
    assert header["alg"] == "RS256"


def _b64url(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_a_key_the_provider_does_not_hold_is_refused_and_the_log_names_the_method(
    provider, key_files, settings, s3, stripe_api, caplog
):
    stranger = key(key_files, "stranger")
    journey = Journey(portal_for(settings, provider, oidc_private_key=stranger))

    response = journey.login()
    assert response.status_code == 400
    assert "did not complete" in response.get_data(as_text=True)
    assert journey.client.get("/orders").status_code == 302
    refusal = next(r.getMessage() for r in caplog.records if "login refused" in r.getMessage())
    assert "error='invalid_client'" in refusal
    assert "PORTAL_OIDC_TOKEN_AUTH_METHOD=private_key_jwt" in refusal
    assert f"kid {client_key(stranger).kid}" in refusal
    pem = key_files["stranger"].read_text().splitlines()[1]
    assert pem not in caplog.text
    assert stripe_api.call_count == 0


def test_check_config_online_reports_the_method_the_key_and_that_the_provider_takes_it(
    provider, key_files, monkeypatch, capsys
):
    status, out = check(
        monkeypatch,
        capsys,
        PORTAL_OIDC_ISSUER=provider.issuer,
        PORTAL_OIDC_CLIENT_SECRET="",
        PORTAL_OIDC_TOKEN_AUTH_METHOD="private_key_jwt",
        PORTAL_OIDC_PRIVATE_KEY_FILE=str(key_files["ec"]),
    )
    assert status == 0, out
    kid = client_key(key(key_files, "ec")).kid
    assert (
        f"ok    token endpoint client authentication private_key_jwt: ES256, kid {kid}, "
        "aud the token endpoint"
    ) in out


def test_the_public_jwk_set_has_no_private_member(key_files, capsys):
    assert main(["oidc-public-jwk", str(key_files["rsa"])]) == 0
    (jwk,) = json.loads(capsys.readouterr().out)["keys"]
    assert set(jwk) == {"kty", "n", "e", "kid", "use", "alg"}
    assert jwk["alg"] == "RS256" and jwk["use"] == "sig"


def test_check_config_online_shows_the_certificate_and_fails_on_an_expired_one(
    provider, key_files, monkeypatch, capsys, tmp_path
):
    env = {
        "PORTAL_OIDC_ISSUER": provider.issuer,
        "PORTAL_OIDC_TOKEN_AUTH_METHOD": "private_key_jwt",
        "PORTAL_OIDC_PRIVATE_KEY_FILE": str(key_files["rsa"]),
        "PORTAL_OIDC_CERTIFICATE_FILE": str(_certificate_of(key_files["rsa"], tmp_path)),
    }
    status, out = check(monkeypatch, capsys, **env)
    assert status == 0, out
    assert "ok    certificate x5t#S256 " in out

    expired = tmp_path / "expired.crt"
    expired.write_bytes(_expired_certificate(key(key_files, "rsa")))
    status, out = check(
        monkeypatch, capsys, **{**env, "PORTAL_OIDC_CERTIFICATE_FILE": str(expired)}
    )
    assert status == 1
    assert "fail  certificate x5t#S256 " in out and "expired" in out


def _expired_certificate(private_key: PrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "portal")])
    ended = datetime.now(UTC) - timedelta(days=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(2)
        .not_valid_before(ended - timedelta(days=365))
        .not_valid_after(ended)
        .sign(private_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)
