"""The ``portal`` command: check settings, run the portal, run the local demo stack, and
sign or verify OrderIDs for the shop's own systems."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from portal.fulfilment import commands as fulfilment_commands
from portal.oidc_setting_values import PrivateKey
from portal.settings import Settings, SettingsError
from portal.startup import checked_settings, proxy_warning


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``portal`` console script."""
    parser = argparse.ArgumentParser(prog="portal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-config", help="validate the PORTAL_* settings and exit")
    check.add_argument(
        "--online",
        action="store_true",
        help="also ask the services (the OpenID provider, ...) whether the settings work "
        "with them; exit 1 on a problem that would stop the portal",
    )
    serve = commands.add_parser("serve", help="run the portal on a development server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    signer = commands.add_parser(
        "sign-order-id", help="sign an OrderID minted elsewhere for one buyer and Payment Link"
    )
    signer.add_argument("order_id", help="the OrderID (letters, digits and '-')")
    verifier = commands.add_parser(
        "verify-order-id",
        help="print the OrderID of a reference signed for this Payment Link and email; "
        "exit 1 for anything else (run it before writing an order's files)",
    )
    verifier.add_argument("reference", help="the session's client_reference_id")
    for command in (signer, verifier):
        command.add_argument(
            "--link", required=True, help="a name in PORTAL_PAYMENT_LINKS, or a plink_… id"
        )
        command.add_argument("--email", required=True, help="the buyer's checkout email")
    fulfilment_commands.add_parsers(commands)
    commands.add_parser(
        "check-stripe",
        help="ask Stripe, with the configured key, for each permission the portal uses; "
        "print the table and exit 1 when a required one is missing",
    )
    jwk = commands.add_parser(
        "oidc-public-jwk",
        help="print the public JWK Set of the private_key_jwt key, to register at the provider",
    )
    jwk.add_argument(
        "key_file",
        nargs="?",
        help="a PEM private key (default: PORTAL_OIDC_PRIVATE_KEY_FILE, with the other "
        "settings); give it to print the JWK Set before the portal is configured",
    )
    demo = commands.add_parser("demo", help="run the portal on its embedded local stack")
    demo.add_argument("--port", type=int, default=8000, help="the portal's port (0: any free)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from portal.devstack.demo import run

        return run(args.port)
    if args.command == "oidc-public-jwk" and args.key_file:
        return _public_jwk(args.key_file)
    try:
        settings = checked_settings()
    except SettingsError as exc:
        print(f"portal: setting {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print("portal: settings are valid")
        return _online_checks(settings) if args.online else 0
    if args.command == "check-stripe":
        from portal.stripe.checks import run_check_stripe

        return run_check_stripe(settings)
    if args.command == "oidc-public-jwk":
        if settings.oidc_private_key is None:
            return _fail("setting PORTAL_OIDC_PRIVATE_KEY_FILE: is not set (or give a key file)")
        return _print_jwks(settings.oidc_private_key)
    if args.command in ("sign-order-id", "verify-order-id"):
        return _order_id_command(settings, args)
    if args.command in fulfilment_commands.COMMANDS:
        return fulfilment_commands.run(args, settings)
    from portal import create_app, logs

    logs.configure()
    warning = proxy_warning([(args.host, args.port)], settings.trusted_proxies)
    if warning:
        logging.getLogger("portal").warning(warning)
    create_app(settings).run(host=args.host, port=args.port)
    return 0


#: One check: the settings in, ``(level, line)`` pairs out, level ``ok``, ``warn`` or
#: ``fail`` (a problem that stops the portal). Each service's package keeps its own.
OnlineCheck = Callable[[Settings], list[tuple[str, str]]]


def _online_sections() -> list[tuple[str, OnlineCheck]]:
    from portal.auth.checks import oidc_findings

    return [("OpenID Connect", oidc_findings)]


def _online_checks(settings: Settings) -> int:
    """Print each service's section; 1 if any line is a ``fail``."""
    failed = False
    for title, check in _online_sections():
        print(f"\n{title}")
        for level, line in check(settings):
            print(f"  {level:<4}  {line}")
            failed = failed or level == "fail"
    return 1 if failed else 0


def _public_jwk(key_file: str) -> int:
    from portal.oidc_setting_values import private_key_file

    try:
        key = private_key_file(key_file)
    except ValueError as exc:
        return _fail(f"{key_file}: {exc}")
    return _print_jwks(key)


def _print_jwks(key: PrivateKey) -> int:
    """The public half only: the JWK Set Okta, Keycloak and panva's provider take."""
    from portal.auth.client_key import public_jwks_text

    print(public_jwks_text(key))
    return 0


def _order_id_command(settings: Settings, args: argparse.Namespace) -> int:
    from portal.order_refs import sign, verified_order_id

    if settings.order_id_key is None:
        return _fail("setting PORTAL_ORDER_ID_KEY: is required to sign or verify OrderIDs")
    link_id = _payment_link_id(settings, args.link)
    if link_id is None:
        return 2
    if args.command == "verify-order-id":
        order_id = verified_order_id(args.reference, link_id, args.email, settings.order_id_key)
        if order_id is None:
            print(
                "portal: not an OrderID signed for this Payment Link and email: write no files",
                file=sys.stderr,
            )
            return 1
        print(order_id)
        return 0
    try:
        print(sign(args.order_id, link_id, args.email, settings.order_id_key))
    except ValueError as exc:
        return _fail(str(exc))
    return 0


def _payment_link_id(settings: Settings, link: str) -> str | None:
    """``link`` when it is a ``plink_…`` id, else the id of the link named so (from Stripe)."""
    from portal.stripe.client import make_client
    from portal.stripe.queries import StripeOrders

    if link.startswith("plink_"):
        return link
    url = dict(settings.payment_links).get(link)
    if url is None:
        _fail(f"no Payment Link named {link!r} in PORTAL_PAYMENT_LINKS")
        return None
    orders = StripeOrders(make_client(settings.stripe_secret_key, settings.stripe_api_base))
    link_id = orders.payment_link_id(url)
    if link_id is None:
        _fail(f"Stripe has no Payment Link at {url}")
    return link_id


def _fail(message: str) -> int:
    print(f"portal: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
