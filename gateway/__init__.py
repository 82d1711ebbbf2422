"""The web process: WebSocket endpoint, sessions, credentials, enqueueing, event pump."""

from __future__ import annotations

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Lazy: gunicorn imports ``gateway.gunicorn_conf`` before its gevent worker patches the
    # standard library, and nothing may import ssl (via redis, flask) before that.
    if name == "create_app":
        from .app import create_app

        return create_app
    raise AttributeError(name)
