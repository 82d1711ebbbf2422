"""gunicorn settings for the gateway: close WebSockets ourselves on shutdown.

On SIGTERM gunicorn stops accepting, then waits ``--graceful-timeout`` for open requests,
and WebSockets never finish by themselves: they would be cut without a close frame. We
send 1001 first, at once, so browsers resume on another process straight away.
"""

from __future__ import annotations

import signal
from typing import Any


def _hub(worker: Any) -> Any:
    app = getattr(worker, "wsgi", None)
    return getattr(app, "extensions", {}).get("sockethub") if app is not None else None


def post_worker_init(worker: Any) -> None:
    # Runs after gunicorn installed its own handlers: wrap the SIGTERM one.
    original = worker.handle_exit

    def handle_exit(sig: int, frame: Any) -> None:
        hub = _hub(worker)
        if hub is not None:
            try:
                import gevent

                gevent.spawn(hub.shutdown)  # blocking sends: not inside the handler
            except ImportError:
                hub.shutdown()
        original(sig, frame)

    worker.handle_exit = handle_exit
    signal.signal(signal.SIGTERM, handle_exit)
    # Ctrl-C reaches the worker twice (the terminal's SIGINT, then the master's SIGQUIT);
    # gunicorn's quick exit raises SystemExit in a greenlet for each, and gevent prints a
    # traceback for the second. Stop the graceful way instead: browsers get 1001 at once,
    # and the master still kills us after its graceful timeout.
    signal.signal(signal.SIGINT, handle_exit)
    signal.signal(signal.SIGQUIT, handle_exit)


def worker_int(worker: Any) -> None:
    _shutdown(worker)


def worker_exit(server: Any, worker: Any) -> None:
    _shutdown(worker)


def _shutdown(worker: Any) -> None:
    hub = _hub(worker)
    if hub is not None:
        hub.shutdown()
