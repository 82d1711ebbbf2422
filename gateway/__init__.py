"""The web process: WebSocket endpoint, sessions, credentials, enqueueing, event pump."""

from .app import create_app

__all__ = ["create_app"]
