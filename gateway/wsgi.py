"""WSGI entry point for gunicorn: ``gunicorn -k gevent gateway.wsgi:app``."""

from . import create_app

app = create_app()
