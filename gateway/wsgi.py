"""WSGI entry point for gunicorn: ``gunicorn -k gevent gateway.wsgi:app``."""

import sys

from envelopes.settings import ConfigError, Settings
from tasks.startup import check_config

from .app import create_app

try:
    check_config(Settings.from_env())
except ConfigError as exc:
    # One line, not a traceback from every worker gunicorn boots.
    print(f"sockethub web: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(3) from None  # gunicorn's WORKER_BOOT_ERROR: its master stops too

app = create_app()
