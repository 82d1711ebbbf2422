"""``PUT`` (or ``POST``) ``/sockethub-upload/<token>``: a browser's file, for the upload
its session asked for (``envelopes/uploads.py``; docs/protocol.md "Uploads").

The request names its session in ``X-Sockethub-Session``; the token must be that
session's, unused and unexpired. The body is read as it streams, counted and sealed into
Redis chunk by chunk, never held whole here; then the platform's workers get a task to
send it on to the server's slot, and the answer is the worker's: ``200`` with ``{"type":
"file", "url", "name", "size", "mediaType"}`` (``url`` the file's download URL), or an
error ``{"error": {code, message, ...}, "reason"?}``: 404 unknown token, 403 another
session's, 409 used, 410 expired, 413 over the size asked for, 400 a body that ended
early, 502/504 what the server or the worker's time limit said.

Origins as for the socket: browsers send ``Origin`` on a PUT, and an origin the socket
would refuse is refused here. A page of another origin that the socket accepts
(``SOCKETHUB_ALLOWED_ORIGINS``) gets the CORS answers it needs (the preflight ``OPTIONS``
and ``Access-Control-Allow-Origin`` naming it); no other origin ever does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, jsonify, request

try:  # the gateway runs under gevent; the route's tests may not
    import gevent
except ImportError:  # pragma: no cover
    gevent = None

from envelopes.errors import (
    ClientError,
    PermanentError,
    Refused,
    SockethubError,
    TooLarge,
    UpstreamTimeout,
    internal_error,
)
from envelopes.uploads import UPLOAD_TASK, Claimed, UploadRefused, Uploads

from .enqueue import task_message

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["PATH", "register", "Dispatch"]

log = logging.getLogger("sockethub.upload")

PATH = "/sockethub-upload/"
SESSION_HEADER = "X-Sockethub-Session"
_READ = 64 * 1024
_CORS = {
    "Access-Control-Allow-Methods": "PUT, POST, OPTIONS",
    "Access-Control-Allow-Headers": f"Content-Type, {SESSION_HEADER}",
    "Access-Control-Max-Age": "600",
}
# (queue, task message) → None: hands the received upload to the platform's workers.
Dispatch = Callable[[str, bytes], None]


def _status(exc: SockethubError) -> int:
    if isinstance(exc, TooLarge):
        return 413
    if isinstance(exc, UpstreamTimeout):
        return 504
    if isinstance(exc, ClientError | Refused):
        return 400
    return 502 if isinstance(exc, PermanentError) or exc.code != "internal" else 500


def _error(exc: SockethubError, status: int | None = None, reason: str = "") -> Any:
    body: dict[str, Any] = {"error": exc.to_dict()}
    if reason:
        body["reason"] = reason
    return jsonify(body), status or _status(exc)


class _Stalled(Exception):
    """The body's deadline passed while a read waited (gevent's timer ended it)."""


def _read(stream: Any, until: float, timeout: float) -> bytes:
    """The next piece of the body, or ``Refused`` once ``until`` has passed: also while a
    read waits on a browser that stopped sending (under gevent, whose timer ends the wait;
    without it, a check between reads)."""
    left = until - time.monotonic()
    if left > 0:
        try:
            if gevent is None:
                return bytes(stream.read(_READ))
            with gevent.Timeout(left, _Stalled):
                return bytes(stream.read(_READ))
        except _Stalled:
            pass
    raise Refused(f"the body took longer than {timeout:g} s to arrive (SOCKETHUB_UPLOAD_TIMEOUT)")


def register(
    app: Flask,
    hub: Hub,
    origin_ok: Callable[[str | None, str], bool],
    dispatch: Dispatch | None = None,
) -> Uploads:
    s = hub.settings
    store = Uploads(hub.redis, hub.atrest, s.upload_ttl, s.upload_timeout)
    send = dispatch or (lambda queue, message: hub.redis.lpush(queue, message))

    def hand_over(claimed: Claimed) -> None:
        platform = hub.registry.get(claimed.platform)
        if platform is None:
            raise SockethubError(f"platform {claimed.platform} is not enabled here")
        payload = {
            "upload": claimed.digest,
            "session": claimed.sid,
            "deadline": time.time() + store.timeout,
        }
        send(platform.queue, task_message(UPLOAD_TASK, payload, platform.queue))

    def cors(response: Any) -> Any:
        origin = request.headers.get("Origin")
        if origin and origin_ok(origin, request.host):
            response.headers.update(
                {"Access-Control-Allow-Origin": origin, "Vary": "Origin", **_CORS}
            )
        return response

    @app.route(f"{PATH}<token>", methods=["OPTIONS"])
    def upload_preflight(token: str) -> Any:
        if not origin_ok(request.headers.get("Origin"), request.host):
            return _error(Refused("origin not allowed"), 403)
        return cors(app.make_response(("", 204)))

    @app.route(f"{PATH}<token>", methods=["PUT", "POST"], provide_automatic_options=False)
    def upload(token: str) -> Any:
        if not origin_ok(request.headers.get("Origin"), request.host):
            return _error(Refused("origin not allowed"), 403)
        return cors(app.make_response(receive(token)))

    def receive(token: str) -> Any:
        sid = request.headers.get(SESSION_HEADER, "")
        try:
            claimed = store.claim(token, sid)
        except UploadRefused as exc:
            return _error(exc.error, exc.status, exc.reason)
        receiver = store.receiver(claimed)
        try:
            if (request.content_length or 0) > claimed.size:  # refused before reading
                raise TooLarge(
                    f"Content-Length {request.content_length} is over the {claimed.size} "
                    "bytes this upload was requested for"
                )
            until = time.monotonic() + store.timeout  # not a body trickled in for ever
            while True:
                data = _read(request.stream, until, store.timeout)
                if not data:
                    break
                receiver.feed(data)
            receiver.close()
        except SockethubError as exc:
            store.discard(claimed)
            return _error(exc)
        except OSError:  # the browser went away mid-body
            store.discard(claimed)
            return _error(Refused("the body could not be read to its end"), 400)
        try:
            hand_over(claimed)
            answer = store.wait(claimed, store.timeout + 5)
        except SockethubError as exc:
            store.discard(claimed)
            return _error(exc)
        except Exception as exc:
            return _error(internal_error(log, "upload hand-over failed", exc), 500)
        if answer.get("status") == "completed":
            return jsonify(answer["object"]), 200
        err = answer.get("error") or {}
        return jsonify({"error": err}), 504 if err.get("code") == "upstream-timeout" else 502

    return store
