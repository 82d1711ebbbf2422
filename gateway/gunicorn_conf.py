"""gunicorn settings for the gateway: close WebSockets ourselves on shutdown.

gunicorn's graceful stop would keep sockets open and then cut them without a close frame;
we send 1001 first so browsers resume on another process straight away.
"""

from __future__ import annotations

from typing import Any


def worker_int(worker: Any) -> None:
    _shutdown(worker)


def worker_exit(server: Any, worker: Any) -> None:
    _shutdown(worker)


def _shutdown(worker: Any) -> None:
    app = getattr(worker, "wsgi", None)
    hub = getattr(app, "extensions", {}).get("sockethub") if app is not None else None
    if hub is not None:
        hub.shutdown()
