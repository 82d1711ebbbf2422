"""gunicorn settings for the gateway: drain, then close WebSockets ourselves on shutdown.

On SIGTERM gunicorn stops accepting, then waits ``--graceful-timeout`` for open requests,
and WebSockets never finish by themselves: they would be cut without a close frame. We
send 1001 first, so browsers resume on another process straight away. Before that, for
``SOCKETHUB_DRAIN_SECONDS``, the process drains (``Hub.drain``): it keeps accepting, so a
load balancer's health check can read the 503 on ``/healthz`` and take it out of rotation
before the browsers resume. Ctrl-C (SIGINT, SIGQUIT) does not drain: someone is waiting.
"""

from __future__ import annotations

import os
import signal
from typing import Any

if os.environ.get("SOCKETHUB_LOG_FORMAT", "").strip() == "json":
    # gunicorn's own lines (master and workers) as JSON too; the app's root handler is set
    # by ``create_app`` (envelopes/logjson.py).
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "envelopes.logjson.JsonFormatter"}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            },
        },
        "loggers": {
            "gunicorn.error": {"handlers": ["console"], "propagate": False},
            "gunicorn.access": {"handlers": ["console"], "propagate": False},
        },
        "root": {"handlers": ["console"]},
    }


def _hub(worker: Any) -> Any:
    app = getattr(worker, "wsgi", None)
    return getattr(app, "extensions", {}).get("sockethub") if app is not None else None


def post_worker_init(worker: Any) -> None:
    # Runs after gunicorn installed its own handlers: wrap the SIGTERM one.
    original = worker.handle_exit

    def close_and_exit(sig: int, frame: Any) -> None:
        hub = _hub(worker)
        if hub is not None:
            try:
                import gevent

                gevent.spawn(hub.shutdown)  # blocking sends: not inside the handler
            except ImportError:
                hub.shutdown()
        original(sig, frame)  # stops accepting, then waits for the sockets to end

    def drain_then_exit(hub: Any, sig: int, frame: Any) -> None:
        hub.drain()  # accepting all along: /healthz says 503 to the balancer
        close_and_exit(sig, frame)

    draining: list[bool] = []

    def handle_exit(sig: int, frame: Any) -> None:
        hub = _hub(worker)
        if sig != signal.SIGTERM or hub is None or not hub.settings.drain_seconds:
            close_and_exit(sig, frame)
        elif not draining:  # a second SIGTERM changes nothing
            draining.append(True)
            import gevent

            gevent.spawn(drain_then_exit, hub, sig, frame)

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
