"""The ``portal`` command: check settings, run the portal, run the local demo stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from portal.settings import Settings, SettingsError
from portal.startup import checked_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``portal`` console script."""
    parser = argparse.ArgumentParser(prog="portal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-config", help="validate the PORTAL_* settings and exit")
    serve = commands.add_parser("serve", help="run the portal on a development server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    signer = commands.add_parser(
        "sign-order-id", help="sign an OrderID minted elsewhere for one Payment Link"
    )
    signer.add_argument("order_id", help="the OrderID (letters, digits and '-')")
    signer.add_argument(
        "--link", required=True, help="a name in PORTAL_PAYMENT_LINKS, or a plink_… id"
    )
    demo = commands.add_parser("demo", help="run the portal on its embedded local stack")
    demo.add_argument("--port", type=int, default=8000, help="the portal's port (0: any free)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        from portal.devstack.demo import run

        return run(args.port)
    try:
        settings = checked_settings()
    except SettingsError as exc:
        print(f"portal: setting {exc}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        print("portal: settings are valid")
        return 0
    if args.command == "sign-order-id":
        return _sign_order_id(settings, args.order_id, args.link)
    from portal import create_app

    create_app(settings).run(host=args.host, port=args.port)
    return 0


def _sign_order_id(settings: Settings, order_id: str, link: str) -> int:
    from portal.order_refs import sign
    from portal.stripe.client import make_client
    from portal.stripe.queries import StripeOrders

    if settings.order_id_key is None:
        print("portal: setting PORTAL_ORDER_ID_KEY: is required to sign", file=sys.stderr)
        return 2
    link_id: str | None = link if link.startswith("plink_") else None
    if link_id is None:
        url = dict(settings.payment_links).get(link)
        if url is None:
            print(
                f"portal: no Payment Link named {link!r} in PORTAL_PAYMENT_LINKS", file=sys.stderr
            )
            return 2
        orders = StripeOrders(make_client(settings.stripe_secret_key, settings.stripe_api_base))
        link_id = orders.payment_link_id(url)
        if link_id is None:
            print(f"portal: Stripe has no Payment Link at {url}", file=sys.stderr)
            return 2
    try:
        print(sign(order_id, link_id, settings.order_id_key))
    except ValueError as exc:
        print(f"portal: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
