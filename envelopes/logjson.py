"""JSON log lines (``SOCKETHUB_LOG_FORMAT=json``), with the ids of the request at hand.

The gateway's pipeline and the worker's runner bind the session and request ids
(``bound``) while they handle a request; every line logged meanwhile, from any logger,
carries them. Context variables: per thread, per greenlet under gevent, per asyncio task.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import time
from collections.abc import Iterator

__all__ = ["JsonFormatter", "bound", "configure"]

_session: contextvars.ContextVar[str | None] = contextvars.ContextVar("session", default=None)
_request: contextvars.ContextVar[str | None] = contextvars.ContextVar("request", default=None)


@contextlib.contextmanager
def bound(session: str | None, request: str | None) -> Iterator[None]:
    """The ids every line logged inside carries."""
    s, r = _session.set(session), _request.set(request)
    try:
        yield
    finally:
        _request.reset(r)
        _session.reset(s)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line: dict[str, object] = {
            "time": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        session, request = _session.get(), _request.get()
        if session:
            line["session"] = session
        if request:
            line["request"] = request
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(fmt: str, logger: logging.Logger | None = None) -> None:
    """With ``json``, every handler of ``logger`` (the root by default) writes JSON lines."""
    if fmt != "json":
        return
    for handler in (logger or logging.getLogger()).handlers:
        handler.setFormatter(JsonFormatter())
