"""The WSGI entry point: ``gunicorn -c config/gunicorn.conf.py wsgi:app``."""

import sys

from portal import create_app, logs
from portal.settings import SettingsError
from portal.startup import checked_settings

logs.configure()
try:
    app = create_app(checked_settings())
except SettingsError as exc:
    print(f"portal: setting {exc}", file=sys.stderr)
    # 3 is gunicorn's "worker failed to boot": the master stops instead of respawning.
    sys.exit(3)
