"""WSGI entry point for gunicorn: ``gunicorn -k gevent gateway.wsgi:app``."""

from .app import create_app

app = create_app()
