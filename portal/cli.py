"""The ``portal`` command: check settings, run the portal, run the local demo stack."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from portal.settings import SettingsError
from portal.startup import checked_settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``portal`` console script."""
    parser = argparse.ArgumentParser(prog="portal", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check-config", help="validate the PORTAL_* settings and exit")
    serve = commands.add_parser("serve", help="run the portal on a development server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
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
    from portal import create_app

    create_app(settings).run(host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
