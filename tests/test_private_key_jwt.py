"""``private_key_jwt``: the portal proves who it is at the token endpoint with a JWT signed
by its own key, against panva's oidc-provider with a client registered for it.

The provider holds the portal's public keys exactly as ``portal oidc-public-jwk`` prints
them (one RSA, one EC P-256); a key it does not hold is its ``invalid_client``, which the
customer sees as the "did not complete" page and the operator as a log line naming the
method and the key.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from contextlib import redirect_stdout
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from portal.auth.client_key import ASSERTION_SECONDS, client_key
from portal.cli import main
from portal.setting_values import PrivateKey, private_key_file
from tests.support.panva import CLIENT_ID, PROFILES, PanvaProvider, run_provider
from tests.test_check_config_online import check
from tests.test_providers import Journey, assert_whole_journey, portal_for


def _write_key(path: Path, key: PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture(scope="module")
def key_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The shop's keys as PEM files: two registered at the provider, one not."""
    folder = tmp_path_factory.mktemp("client-keys")
    return {
        "rsa": _write_key(folder / "rsa.pem", rsa.generate_private_key(65537, 2048)),
        "ec": _write_key(folder / "ec.pem", ec.generate_private_key(ec.SECP256R1())),
        "stranger": _write_key(folder / "other.pem", rsa.generate_private_key(65537, 2048)),
    }


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
