"""The WebSocket route: upgrade onto a ``Wire``, run the handler, end without HTTP bytes.

flask-sock's route lets an exception out of the handler, and Flask then writes its HTTP 500
page onto the upgraded socket: garbage bytes for the browser, no close code. Here anything
the handler raises is logged with an id and the socket is closed with 1011 naming that id;
nothing else is ever written after the upgrade. The route also waits for the socket's
lingering close (``wire.py``) before it returns, because gunicorn closes the file
descriptor as soon as the request ends.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from simple_websocket import ConnectionClosed, Server

from .wire import LINGER, Wire, abort, capped

__all__ = ["websocket_route", "deflate_offer", "wired", "CLOSE_WAIT"]

log = logging.getLogger("sockethub.gateway")

CLOSE_WAIT = 1.0  # seconds a close frame may take before the socket is cut instead

_SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")


_OFFER = "HTTP_SEC_WEBSOCKET_EXTENSIONS"
# Both sides drop their zlib state after every message (RFC 7692 §7.1.1: a server may
# answer with either parameter even when the offer did not name it).
_NO_TAKEOVER = ("server_no_context_takeover", "client_no_context_takeover")


def deflate_offer(offer: str | None, enabled: bool) -> str | None:
    """The extension offer the library gets to answer, rewritten from the browser's.

    simple-websocket accepts permessage-deflate with wsproto's defaults, context takeover
    and 15-bit windows: each socket then keeps a compressor (~256 KiB with zlib's
    memLevel 8) and a decompressor for its whole life. Without context takeover both are
    made per message and freed at once; frames still compress, only without the history
    of earlier ones. The library accepts what the offer names, so the offer is where the
    parameters go; only the first permessage-deflate offer is kept (wsproto would merge
    several), and nothing else is offered (it supports nothing else)."""
    if not enabled or not offer:
        return None
    for choice in offer.split(","):
        params = [p.strip() for p in choice.split(";")]
        if params[0].lower() == "permessage-deflate":
            kept = [p for p in params[1:] if p and p not in _NO_TAKEOVER]
            return "; ".join(["permessage-deflate", *kept, *_NO_TAKEOVER])
    return None


def _accept(
    environ: dict[str, Any], send_timeout: float, deflate: bool, options: dict[str, Any]
) -> Server:
    env = dict(environ)  # the handshake reads the headers from the environ
    offer = deflate_offer(env.pop(_OFFER, None), deflate)
    if offer is not None:
        env[_OFFER] = offer
    return Server(wired(env, send_timeout), **options)


def wired(env: dict[str, Any], send_timeout: float) -> dict[str, Any]:
    """``env`` (changed in place) with the server's socket wrapped in a ``Wire``: every
    write whole or failed, for any WebSocket library that reads the socket from there."""
    for key in _SOCKET_KEYS:
        if key in env and not isinstance(env[key], Wire):
            env[key] = Wire(env[key], send_timeout)
            break
    return env


def _end(ws: Server) -> None:
    """Let the library's reader finish (the lingering close); cut it if it will not."""
    try:
        with capped(ws, CLOSE_WAIT):
            ws.close()
    except Exception:
        pass
    thread = getattr(ws, "thread", None)
    if thread is not None:
        thread.join(timeout=LINGER + CLOSE_WAIT)
        if thread.is_alive():  # waiting for a close answer that is not coming
            abort(ws)
            thread.join(timeout=CLOSE_WAIT)


def websocket_route(
    app: Flask,
    path: str,
    handler: Callable[[Server], None],
    *,
    send_timeout: float,
    deflate: bool,
    options: dict[str, Any],
) -> None:
    def route() -> Response:
        ws = _accept(request.environ, send_timeout, deflate, options)
        try:
            handler(ws)
        except ConnectionClosed:
            pass
        except Exception:
            ref = secrets.token_hex(4)
            log.exception("error on an open WebSocket (ref %s)", ref)
            try:
                with capped(ws, CLOSE_WAIT):
                    ws.close(reason=1011, message=f"internal error in the gateway (ref {ref})")
            except Exception:
                abort(ws)
        _end(ws)
        return _Handled(ws.mode)

    route.__name__ = "websocket_" + path.strip("/").replace("/", "_")
    app.add_url_rule(path, view_func=route, websocket=True)


class _Handled(Response):
    """A response the server must not write: the socket was the response."""

    def __init__(self, mode: str):
        super().__init__()
        self._mode = mode

    def __call__(self, environ: Any, start_response: Any) -> Any:
        if self._mode == "gunicorn":
            raise StopIteration()  # gunicorn's signal that the request wrote its own bytes
        if self._mode == "werkzeug":
            return super().__call__(environ, start_response)
        return []
