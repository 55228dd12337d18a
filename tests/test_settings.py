"""Settings are validated at start-up with one clear line per problem, never a secret."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from portal.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]

GOOD = {
    "PORTAL_SECRET_KEY": "x" * 40,
    "PORTAL_PUBLIC_URL": "https://portal.example.jp/",
    "PORTAL_STRIPE_SECRET_KEY": "sk_test_abc123",
    "PORTAL_STRIPE_WEBHOOK_SECRET": "whsec_abc123",
    "PORTAL_OIDC_ISSUER": "https://idp.example.jp",
    "PORTAL_OIDC_CLIENT_ID": "portal",
    "PORTAL_OIDC_CLIENT_SECRET": "very-secret-value",
    "PORTAL_S3_BUCKET": "shop-deliverables",
    "PORTAL_ORDER_ID_KEY": "o" * 40,
}


SECRETS = {
    "PORTAL_SECRET_KEY",
    "PORTAL_STRIPE_SECRET_KEY",
    "PORTAL_STRIPE_WEBHOOK_SECRET",
    "PORTAL_ORDER_ID_KEY",
}


def test_good_settings_load_with_defaults():
    settings = Settings.from_env(GOOD)
    assert settings.public_url == "https://portal.example.jp"
    assert settings.https
    assert settings.oidc_scopes == "openid email profile"
    assert settings.oidc_algorithms == ("RS256", "ES256")
    assert settings.s3_prefix == "orders/{order_id}/"
    assert settings.download_ttl_seconds == 300
    assert settings.trusted_proxies == 0
    assert settings.stripe_api_base is None


def test_oidc_defaults_are_strict():
    settings = Settings.from_env(GOOD)
    assert settings.oidc_email_trust == "email_verified"
    assert settings.oidc_token_auth_method == "client_secret_basic"
    assert settings.oidc_leeway_seconds == 60
    assert settings.oidc_logout_url is None


def test_the_issuer_is_kept_exactly_with_its_trailing_slash():
    env = {**GOOD, "PORTAL_OIDC_ISSUER": "https://shop.jp.auth0.com/"}
    assert Settings.from_env(env).oidc_issuer == "https://shop.jp.auth0.com/"


def test_oidc_settings_for_line_and_cognito_are_accepted():
    env = {
        **GOOD,
        "PORTAL_OIDC_ALGORITHMS": "HS256",
        "PORTAL_OIDC_EMAIL_TRUST": "provider",
        "PORTAL_OIDC_TOKEN_AUTH_METHOD": "client_secret_post",
        "PORTAL_OIDC_LEEWAY_SECONDS": "120",
        "PORTAL_OIDC_LOGOUT_URL": "https://shop.auth.ap-northeast-1.amazoncognito.com/logout"
        "?client_id={client_id}&logout_uri={return_url}",
    }
    settings = Settings.from_env(env)
    assert settings.oidc_algorithms == ("HS256",)
    assert settings.oidc_token_auth_method == "client_secret_post"
    assert settings.oidc_leeway_seconds == 120


@pytest.mark.parametrize(
    "issuer",
    [
        "https://login.microsoftonline.com/common/v2.0",
        "https://login.microsoftonline.com/organizations/v2.0",
        "https://login.microsoftonline.com/{tenantid}/v2.0",
    ],
)
def test_xms_edov_needs_a_single_tenant_issuer(issuer):
    env = {**GOOD, "PORTAL_OIDC_ISSUER": issuer, "PORTAL_OIDC_EMAIL_TRUST": "xms_edov"}
    with pytest.raises(SettingsError, match=r"^PORTAL_OIDC_EMAIL_TRUST: xms_edov needs"):
        Settings.from_env(env)


def test_xms_edov_with_a_tenant_issuer_is_accepted():
    tenant = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0"
    env = {**GOOD, "PORTAL_OIDC_ISSUER": tenant, "PORTAL_OIDC_EMAIL_TRUST": "xms_edov"}
    assert Settings.from_env(env).oidc_email_trust == "xms_edov"


def test_secrets_are_not_in_the_repr():
    text = repr(Settings.from_env(GOOD))
    assert "sk_test_abc123" not in text and "very-secret-value" not in text and "x" * 40 not in text


def test_several_webhook_secrets_are_accepted_for_rotation():
    env = {**GOOD, "PORTAL_STRIPE_WEBHOOK_SECRET": "whsec_old, whsec_new"}
    assert Settings.from_env(env).stripe_webhook_secrets == ("whsec_old", "whsec_new")


@pytest.mark.parametrize("name", sorted(GOOD))
def test_each_required_setting_missing_is_named(name):
    env = {k: v for k, v in GOOD.items() if k != name}
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith(f"{name}: is required")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_SECRET_KEY", "short-key-7"),
        ("PORTAL_PUBLIC_URL", "portal.example.jp"),
        ("PORTAL_PUBLIC_URL", "ftp://portal.example.jp"),
        ("PORTAL_STRIPE_SECRET_KEY", "pk_test_123456"),
        ("PORTAL_STRIPE_SECRET_KEY", "sk_live_"),
        ("PORTAL_STRIPE_WEBHOOK_SECRET", "plain-text-value-9"),
        ("PORTAL_STRIPE_WEBHOOK_SECRET", ","),
        ("PORTAL_STRIPE_API_BASE", "localhost:12111"),
        ("PORTAL_OIDC_ISSUER", "idp.example.jp"),
        ("PORTAL_OIDC_SCOPES", "email profile"),
        ("PORTAL_OIDC_ALGORITHMS", "RS256 none"),
        ("PORTAL_OIDC_ALGORITHMS", "HS384"),
        ("PORTAL_OIDC_EMAIL_TRUST", "anything"),
        ("PORTAL_OIDC_TOKEN_AUTH_METHOD", "client_secret_jwt"),
        ("PORTAL_OIDC_ASSERTION_AUDIENCE", "https://idp.example.jp/token"),
        ("PORTAL_OIDC_LEEWAY_SECONDS", "301"),
        ("PORTAL_OIDC_LEEWAY_SECONDS", "-1"),
        ("PORTAL_OIDC_LOGOUT_URL", "https://x.example/logout?u={email}"),
        ("PORTAL_OIDC_LOGOUT_URL", "logout?logout_uri={return_url}"),
        ("PORTAL_S3_BUCKET", "Not_A_Bucket"),
        ("PORTAL_S3_ENDPOINT_URL", "not a url"),
        ("PORTAL_S3_PREFIX", "orders/"),
        ("PORTAL_S3_PREFIX", "{order_id}/{email}/"),
        ("PORTAL_S3_PREFIX", "../{order_id}/"),
        ("PORTAL_DOWNLOAD_TTL_SECONDS", "3601"),
        ("PORTAL_DOWNLOAD_TTL_SECONDS", "0"),
        ("PORTAL_DOWNLOAD_TTL_SECONDS", "five"),
        ("PORTAL_TRUSTED_PROXIES", "-1"),
        ("PORTAL_SESSION_HOURS", "13"),
        ("PORTAL_DEFAULT_LOCALE", "fr"),
        ("PORTAL_DEFAULT_LOCALE", "ja_JP"),
        ("PORTAL_TIMEZONE", "Tokyo"),
        ("PORTAL_TIMEZONE", "../../etc/passwd"),
        ("PORTAL_TIMEZONE", "Asia/"),
    ],
)
def test_malformed_settings_are_named_in_one_line(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**GOOD, name: value})
    message = str(error.value)
    assert message.startswith(f"{name}: ")
    assert "\n" not in message
    if name in SECRETS:
        assert value not in message


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    return subprocess.run(
        args, env={**clean, **env}, cwd=ROOT / "tests", capture_output=True, text=True, timeout=60
    )


def test_check_config_with_a_missing_setting_prints_one_line_and_fails():
    env = {k: v for k, v in GOOD.items() if k != "PORTAL_S3_BUCKET"}
    result = _run([sys.executable, "-m", "portal.cli", "check-config"], env)
    assert result.returncode == 2
    assert result.stderr == "portal: setting PORTAL_S3_BUCKET: is required but not set\n"


def test_check_config_with_good_settings_succeeds():
    result = _run([sys.executable, "-m", "portal.cli", "check-config"], GOOD)
    assert result.returncode == 0, result.stderr


def test_gunicorn_with_a_bad_setting_stops_with_one_line_and_no_traceback():
    env = {**GOOD, "PORTAL_STRIPE_WEBHOOK_SECRET": ""}
    result = _run(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            str(ROOT / "config/gunicorn.conf.py"),
            "--chdir",
            str(ROOT),
            "--bind",
            "127.0.0.1:0",
            "wsgi:app",
        ],
        env,
    )
    assert result.returncode != 0
    assert "portal: setting PORTAL_STRIPE_WEBHOOK_SECRET: is required but not set" in result.stderr
    assert "Traceback" not in result.stderr


# --- private_key_jwt ------------------------------------------------------------------------


def _pem(key: PrivateKeyTypes, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


@pytest.fixture(scope="module")
def rsa_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "portal-oidc.pem"
    path.write_bytes(_pem(rsa.generate_private_key(65537, 2048)))
    return path


def _pkjwt(key_file: Path, **env: str) -> dict[str, str]:
    """GOOD switched to private_key_jwt with ``key_file``, and no client secret."""
    changed = {k: v for k, v in GOOD.items() if k != "PORTAL_OIDC_CLIENT_SECRET"}
    return {
        **changed,
        "PORTAL_OIDC_TOKEN_AUTH_METHOD": "private_key_jwt",
        "PORTAL_OIDC_PRIVATE_KEY_FILE": str(key_file),
        **env,
    }


def test_private_key_jwt_needs_no_client_secret(rsa_key_file):
    settings = Settings.from_env(_pkjwt(rsa_key_file))
    assert settings.oidc_token_auth_method == "private_key_jwt"
    assert settings.oidc_client_secret is None
    assert isinstance(settings.oidc_private_key, rsa.RSAPrivateKey)
    assert settings.oidc_assertion_audience == "token_endpoint"
    assert "PrivateKey" not in repr(settings)


def test_private_key_jwt_without_a_key_file_names_the_key_setting(rsa_key_file):
    env = _pkjwt(rsa_key_file)
    del env["PORTAL_OIDC_PRIVATE_KEY_FILE"]
    with pytest.raises(SettingsError, match=r"^PORTAL_OIDC_PRIVATE_KEY_FILE: is required with"):
        Settings.from_env(env)


def test_hs256_id_tokens_still_need_the_client_secret_with_private_key_jwt(rsa_key_file):
    env = _pkjwt(rsa_key_file, PORTAL_OIDC_ALGORITHMS="HS256")
    with pytest.raises(SettingsError, match=r"^PORTAL_OIDC_CLIENT_SECRET: is required while"):
        Settings.from_env(env)
    env["PORTAL_OIDC_CLIENT_SECRET"] = "line-channel-secret"
    assert Settings.from_env(env).oidc_client_secret == "line-channel-secret"


def test_the_client_secret_stays_required_for_the_secret_methods(rsa_key_file):
    env = _pkjwt(rsa_key_file, PORTAL_OIDC_TOKEN_AUTH_METHOD="client_secret_post")
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith("PORTAL_OIDC_CLIENT_SECRET: is required but not set")


def _self_signed_certificate(key: rsa.RSAPrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "portal")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def _malformed_key_files(folder: Path) -> dict[str, tuple[Path, str]]:
    """Each wrong key file, with the words its one-line error must say."""
    rsa_key = rsa.generate_private_key(65537, 2048)
    files = {
        "public-key.pem": (
            rsa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            "is not a PEM private key",
        ),
        "certificate.pem": (_self_signed_certificate(rsa_key), "is not a PEM private key"),
        "garbage.pem": (
            b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
            "is not a PEM private key the portal can read",
        ),
        "encrypted.pem": (_pem(rsa_key, b"passphrase"), "is encrypted with a passphrase"),
        "rsa-1024.pem": (
            _pem(rsa.generate_private_key(65537, 1024)),  # noqa: S505 (the case refused)
            "RSA key of 1024 bits: use 2048 bits or more",
        ),
        "ec-p384.pem": (
            _pem(ec.generate_private_key(ec.SECP384R1())),
            "unsupported key type (EC secp384r1)",
        ),
        "ed25519.pem": (_pem(ed25519.Ed25519PrivateKey.generate()), "unsupported key type"),
    }
    paths = {}
    for name, (data, expected) in files.items():
        (folder / name).write_bytes(data)
        paths[name] = (folder / name, expected)
    paths["missing.pem"] = (folder / "missing.pem", "must be the path of a readable PEM")
    paths["a-folder"] = (folder, "must be the path of a readable PEM")
    return paths


MALFORMED_KEYS = [
    "public-key.pem",
    "certificate.pem",
    "garbage.pem",
    "encrypted.pem",
    "rsa-1024.pem",
    "ec-p384.pem",
    "ed25519.pem",
    "missing.pem",
    "a-folder",
]


@pytest.fixture(scope="module")
def malformed_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, str]]:
    return _malformed_key_files(tmp_path_factory.mktemp("bad-keys"))


@pytest.mark.parametrize("case", MALFORMED_KEYS)
def test_a_malformed_private_key_file_is_named_in_one_line_without_its_content(
    malformed_keys, case
):
    path, expected = malformed_keys[case]
    with pytest.raises(SettingsError) as error:
        Settings.from_env(_pkjwt(path))
    message = str(error.value)
    assert message.startswith("PORTAL_OIDC_PRIVATE_KEY_FILE: ")
    assert expected in message
    assert "\n" not in message
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines()[1:-1]:
            assert line not in message


def test_a_certificate_of_the_key_is_accepted_for_entra(rsa_key_file, tmp_path):
    key = serialization.load_pem_private_key(rsa_key_file.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    certificate = tmp_path / "portal.crt"
    certificate.write_bytes(_self_signed_certificate(key))
    settings = Settings.from_env(
        _pkjwt(rsa_key_file, PORTAL_OIDC_CERTIFICATE_FILE=str(certificate))
    )
    assert settings.oidc_certificate is not None
    assert "Certificate" not in repr(settings)


def test_a_certificate_of_another_key_or_without_a_key_is_named(rsa_key_file, tmp_path):
    other = tmp_path / "other.crt"
    other.write_bytes(_self_signed_certificate(rsa.generate_private_key(65537, 2048)))
    env = _pkjwt(rsa_key_file, PORTAL_OIDC_CERTIFICATE_FILE=str(other))
    with pytest.raises(SettingsError, match=r"^PORTAL_OIDC_CERTIFICATE_FILE: is not a cert"):
        Settings.from_env(env)
    del env["PORTAL_OIDC_PRIVATE_KEY_FILE"]
    env["PORTAL_OIDC_TOKEN_AUTH_METHOD"] = "client_secret_basic"
    env["PORTAL_OIDC_CLIENT_SECRET"] = "very-secret-value"
    with pytest.raises(SettingsError, match=r"^PORTAL_OIDC_CERTIFICATE_FILE: needs PORTAL_OIDC_PR"):
        Settings.from_env(env)


@pytest.mark.parametrize("content", [b"", b"-----BEGIN CERTIFICATE-----\nbm9wZQ==\n"])
def test_a_file_that_is_not_a_certificate_is_named(rsa_key_file, tmp_path, content):
    path = tmp_path / "portal.crt"
    path.write_bytes(content)
    env = _pkjwt(rsa_key_file, PORTAL_OIDC_CERTIFICATE_FILE=str(path))
    with pytest.raises(SettingsError, match=r"^PORTAL_OIDC_CERTIFICATE_FILE: is not a PEM cert"):
        Settings.from_env(env)


# --- receipts (領収書) ---------------------------------------------------------------------

SHOP = {**GOOD, "PORTAL_RECEIPT_ISSUER_NAME": "株式会社サンプル商店"}


def test_receipts_are_off_until_the_shop_names_its_issuer():
    assert not Settings.from_env(GOOD).receipts_enabled
    settings = Settings.from_env(SHOP)
    assert settings.receipts_enabled
    assert settings.receipt_font is not None  # found on the system (fonts-ipaexfont-gothic)
    assert not settings.receipt_allow_uesama


def test_a_corporations_registration_number_passes_its_check_digit():
    env = {**SHOP, "PORTAL_RECEIPT_REGISTRATION_NUMBER": "T7010705000725"}
    assert Settings.from_env(env).receipt_registration_number == "T7010705000725"


def test_a_mistyped_registration_number_is_caught_by_its_check_digit():
    env = {**SHOP, "PORTAL_RECEIPT_REGISTRATION_NUMBER": "T7010705000726"}
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert str(error.value).startswith("PORTAL_RECEIPT_REGISTRATION_NUMBER: its check digit")


def test_a_sole_proprietors_number_has_no_check_digit_to_test():
    env = {
        **SHOP,
        "PORTAL_RECEIPT_REGISTRATION_NUMBER": "T7010705000726",
        "PORTAL_RECEIPT_ISSUER_KIND": "other",
    }
    assert Settings.from_env(env).receipt_registration_number == "T7010705000726"


def test_a_registration_number_needs_an_issuer_name():
    env = {**GOOD, "PORTAL_RECEIPT_REGISTRATION_NUMBER": "T7010705000725"}
    with pytest.raises(SettingsError, match="needs PORTAL_RECEIPT_ISSUER_NAME"):
        Settings.from_env(env)


def test_tax_rates_are_read_per_product_and_by_default():
    env = {**SHOP, "PORTAL_TAX_RATE": "10", "PORTAL_TAX_PRODUCT_RATES": "prod_Food1=8, prod_Gift=0"}
    settings = Settings.from_env(env)
    assert settings.tax_rate == 10
    assert dict(settings.product_tax_rates) == {"prod_Food1": 8, "prod_Gift": 0}


def test_a_receipt_font_that_is_not_truetype_is_refused(tmp_path):
    font = tmp_path / "font.otf"
    font.write_bytes(b"OTTO" + bytes(100))  # CFF outlines: reportlab cannot embed them
    with pytest.raises(SettingsError, match="must be a TrueType font"):
        Settings.from_env({**SHOP, "PORTAL_RECEIPT_FONT": str(font)})


# --- the shop on every page ----------------------------------------------------------------


def test_the_shops_identity_is_read_from_its_settings(tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n")
    env = {
        **GOOD,
        "PORTAL_SHOP_NAME_JA": "フォトスタジオしずく",
        "PORTAL_SHOP_NAME_EN": "Shizuku Photo Studio",
        "PORTAL_SHOP_LOGO": str(logo),
        "PORTAL_SUPPORT_EMAIL": "support@shizuku.example.jp",
        "PORTAL_SUPPORT_URL": "https://shizuku.example.jp/contact?form=1",
        "PORTAL_LEGAL_NOTICE_URL": "https://shizuku.example.jp/tokushoho",
        "PORTAL_PRIVACY_URL": "https://shizuku.example.jp/privacy",
        "PORTAL_ORDER_NUMBER_PATTERN": r"^SHOP-(?P<number>\d+)",
    }
    settings = Settings.from_env(env)
    assert settings.shop.name("ja") == "フォトスタジオしずく"
    assert settings.shop.name("en") == "Shizuku Photo Studio"
    assert settings.shop.logo == logo
    assert settings.shop.support_url == "https://shizuku.example.jp/contact?form=1"
    assert settings.order_number_pattern == r"^SHOP-(?P<number>\d+)"


def test_a_shop_name_in_one_language_serves_both():
    settings = Settings.from_env({**GOOD, "PORTAL_SHOP_NAME_JA": "しずく"})
    assert settings.shop.name("en") == "しずく"
    assert Settings.from_env(GOOD).shop.name("ja") is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_RECEIPT_REGISTRATION_NUMBER", "7010705000725"),
        ("PORTAL_RECEIPT_REGISTRATION_NUMBER", "T701070500072"),
        ("PORTAL_RECEIPT_REGISTRATION_NUMBER", "T７０１０７０５０００７２５"),
        ("PORTAL_RECEIPT_ISSUER_KIND", "company"),
        ("PORTAL_RECEIPT_ALLOW_UESAMA", "maybe"),
        ("PORTAL_RECEIPT_ISSUER_ADDRESS", "東京都\n千代田区"),
        ("PORTAL_RECEIPT_FONT", "/nonexistent/font.ttf"),
        ("PORTAL_TAX_RATE", "5"),
        ("PORTAL_TAX_PRODUCT_RATES", "prod_A=12"),
        ("PORTAL_TAX_PRODUCT_RATES", "price_A=10"),
    ],
)
def test_malformed_receipt_settings_are_named_in_one_line(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**SHOP, name: value})
    assert str(error.value).startswith(f"{name}: ")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_SHOP_NAME_JA", "x" * 81),
        ("PORTAL_SHOP_LOGO", "/no/such/logo.png"),
        ("PORTAL_SHOP_LOGO", str(ROOT / "README.md")),
        ("PORTAL_SUPPORT_EMAIL", "support at example.jp"),
        ("PORTAL_SUPPORT_URL", "javascript:alert(1)"),
        ("PORTAL_LEGAL_NOTICE_URL", "/tokushoho"),
        ("PORTAL_PRIVACY_URL", "https://shop.example.jp/privacy#top"),
        ("PORTAL_ORDER_NUMBER_PATTERN", "(unclosed"),
        ("PORTAL_ORDER_NUMBER_PATTERN", r"^(\d+)-(\d+)"),
    ],
)
def test_malformed_shop_settings_are_named_in_one_line(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**GOOD, name: value})
    assert str(error.value).startswith(f"{name}: ")


def test_a_logo_larger_than_half_a_megabyte_is_refused(tmp_path):
    logo = tmp_path / "huge.png"
    logo.write_bytes(b"\0" * (512 * 1024 + 1))
    with pytest.raises(SettingsError, match="PORTAL_SHOP_LOGO: must be a file of at most 512 KiB"):
        Settings.from_env({**GOOD, "PORTAL_SHOP_LOGO": str(logo)})


def test_stripe_budget_caps_and_rate_have_safe_defaults():
    settings = Settings.from_env(GOOD)
    assert settings.stripe_budget_seconds == 4
    assert settings.stripe_concurrency == 4
    assert settings.stripe_call_rate == 20  # a test key: Stripe allows 25 per second
    live = Settings.from_env({**GOOD, "PORTAL_STRIPE_SECRET_KEY": "rk_live_abc123"})
    assert live.stripe_call_rate == 80  # live: Stripe allows 100
    shared = Settings.from_env({**GOOD, "PORTAL_STRIPE_CALLS_PER_SECOND": "40"})
    assert shared.stripe_call_rate == 40


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_STRIPE_BUDGET_SECONDS", "0"),
        ("PORTAL_STRIPE_BUDGET_SECONDS", "30"),
        ("PORTAL_STRIPE_CONCURRENCY", "0"),
        ("PORTAL_OIDC_BUDGET_SECONDS", "0"),
        ("PORTAL_OIDC_BUDGET_SECONDS", "30"),
        ("PORTAL_STRIPE_CALLS_PER_SECOND", "fast"),
        ("PORTAL_METRICS_BIND", "9464"),
        ("PORTAL_METRICS_BIND", "localhost:http"),
    ],
)
def test_bad_reliability_settings_are_named(name, value):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**GOOD, name: value})
    assert str(error.value).startswith(f"{name}: must be")


def test_a_login_waits_ten_seconds_for_the_provider_unless_told_otherwise():
    assert Settings.from_env(GOOD).oidc_budget_seconds == 10
    quick = Settings.from_env({**GOOD, "PORTAL_OIDC_BUDGET_SECONDS": "4"})
    assert quick.oidc_budget_seconds == 4


def test_metrics_listen_on_loopback_unless_told_otherwise():
    assert Settings.from_env(GOOD).metrics_bind == "127.0.0.1:9464"
    assert Settings.from_env({**GOOD, "PORTAL_METRICS_BIND": "off"}).metrics_bind is None
    bound = Settings.from_env({**GOOD, "PORTAL_METRICS_BIND": "10.0.0.5:9100"})
    assert bound.metrics_bind == "10.0.0.5:9100"


# --- fulfilment (issue 18) ---------------------------------------------------------------


def test_fulfilment_hours_default_to_a_day():
    assert Settings.from_env(GOOD).fulfilment_hours == 24


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_FULFILMENT_HOURS", "0"),
        ("PORTAL_FULFILMENT_HOURS", "721"),
        ("PORTAL_FULFILMENT_HOURS", "a day"),
    ],
)
def test_malformed_fulfilment_settings_are_named(name, value):
    with pytest.raises(SettingsError, match=f"^{name}: "):
        Settings.from_env({**GOOD, name: value})


def test_alert_channels_are_an_sns_topic_and_a_webhook_kept_out_of_the_repr():
    env = {
        **GOOD,
        "PORTAL_ALERT_SNS_TOPIC": "arn:aws:sns:ap-northeast-1:123456789012:shop-alerts",
        "PORTAL_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/secretpart",
    }
    settings = Settings.from_env(env)
    assert settings.alert_sns_topic.endswith(":shop-alerts")
    assert "secretpart" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_ALERT_SNS_TOPIC", "shop-alerts"),
        ("PORTAL_ALERT_SNS_TOPIC", "arn:aws:sqs:ap-northeast-1:123456789012:queue"),
        ("PORTAL_ALERT_WEBHOOK_URL", "hooks.slack.com/services/x"),
    ],
)
def test_malformed_alert_settings_are_named(name, value):
    with pytest.raises(SettingsError, match=f"^{name}: "):
        Settings.from_env({**GOOD, name: value})


def test_the_fulfilment_endpoint_needs_its_signing_secret():
    env = {**GOOD, "PORTAL_FULFILMENT_ENDPOINT": "https://fulfil.shop.example.jp/stripe"}
    with pytest.raises(SettingsError, match=r"^PORTAL_FULFILMENT_ENDPOINT_SECRET: is required"):
        Settings.from_env(env)
    env["PORTAL_FULFILMENT_ENDPOINT_SECRET"] = "whsec_endpoint1"
    assert "whsec_endpoint1" not in repr(Settings.from_env(env))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORTAL_FULFILMENT_ENDPOINT_SECRET", "secret"),
        ("PORTAL_MAIL_FROM", "Photo Shop"),
        ("PORTAL_MAIL_FROM", "orders@"),
    ],
)
def test_malformed_rerun_and_mail_settings_are_named(name, value):
    with pytest.raises(SettingsError, match=f"^{name}: "):
        Settings.from_env({**GOOD, name: value})


def test_the_mail_sender_may_carry_the_shops_name():
    sender = "写真館さくら <orders@sakura.example.jp>"
    assert Settings.from_env({**GOOD, "PORTAL_MAIL_FROM": sender}).mail_from == sender


def test_a_sentinel_cache_url_is_accepted():
    url = "redis+sentinel://:pass@10.0.0.1:26379,10.0.0.2:26379,[fd00::3]/portal-cache/2"
    assert Settings.from_env({**GOOD, "PORTAL_CACHE_URL": url}).cache_url == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://10.0.0.1:26379", "must name the Sentinel service"),
        ("redis+sentinel://10.0.0.1:26379/", "must name the Sentinel service"),
        ("redis+sentinel://10.0.0.1:26379/portal/zero", "the database after the service"),
        ("redis+sentinel://10.0.0.1:99999/portal", "a Sentinel port must be"),
        ("redis+sentinel://10.0.0.1,,10.0.0.2/portal", "each Sentinel must be host"),
        ("redis+sentinel://10.0.0.1/portal?ssl=true", "without ?"),
        ("sentinel://10.0.0.1:26379/portal", "redis+sentinel://host:26379"),
    ],
)
def test_a_malformed_sentinel_url_is_one_line_naming_the_problem(url, problem):
    with pytest.raises(SettingsError) as error:
        Settings.from_env({**GOOD, "PORTAL_CACHE_URL": url.replace("10.0.0.1", ":pw@10.0.0.1", 1)})
    message = str(error.value)
    assert message.startswith("PORTAL_CACHE_URL: ")
    assert problem in message
    assert "\n" not in message and "pw" not in message


def test_disputed_orders_withhold_files_unless_the_shop_keeps_them():
    assert Settings.from_env(GOOD).disputed_orders_keep_files is False
    env = {**GOOD, "PORTAL_DISPUTED_ORDERS_KEEP_FILES": "true"}
    assert Settings.from_env(env).disputed_orders_keep_files is True
    with pytest.raises(SettingsError, match=r"^PORTAL_DISPUTED_ORDERS_KEEP_FILES: "):
        Settings.from_env({**GOOD, "PORTAL_DISPUTED_ORDERS_KEEP_FILES": "sometimes"})


def test_hsts_takes_includesubdomains_and_preload_only_in_a_valid_form():
    assert Settings.from_env(GOOD).hsts == "max-age=31536000"
    value = "max-age=63072000; includeSubDomains; preload"
    assert Settings.from_env({**GOOD, "PORTAL_HSTS": value}).hsts == value
    for bad in ("includeSubDomains", "max-age=1; preload", "max-age=99999999999", "max-age=5; x"):
        with pytest.raises(SettingsError, match=r"^PORTAL_HSTS: "):
            Settings.from_env({**GOOD, "PORTAL_HSTS": bad})
