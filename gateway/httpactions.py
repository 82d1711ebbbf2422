"""Sockethub's HTTP actions at ``/sockethub-http``: the Flask side, a thin adapter.

``POST /sockethub-http`` runs one call (``gateway.httpcall``) and streams its NDJSON
answer; ``GET /sockethub-http/<id>`` (or ``?requestId=``) replays a finished one;
``OPTIONS`` answers CORS preflights. Off unless ``SOCKETHUB_HTTP_ACTIONS`` is set: then
every method there is a 404, as the route does not exist in Sockethub either.

Status codes as Sockethub's (docs/http-actions.md): 200 the answer or its replay, 202 a
GET while it runs, 400 a body or id that cannot be used, 404 no such id, 409 a POST of an
id still running, 413 too many activities or too many bytes, 429 the address's limits,
503 Redis (the idempotency store) did not answer. Errors are ``{"error": ...}``.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import redis as redis_lib
from flask import Flask, Response, request

from envelopes.sealing import Keyring

from .httpbody import BodyError, items_of, request_id
from .httpcall import HttpCall
from .httpreplay import COMPLETE, NEW, RUNNING, ReplayStore

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["register_http_actions", "PATH", "MAX_CAPS"]

log = logging.getLogger("sockethub.http")

PATH = "/sockethub-http"
# The caps of the settings (a value above one is taken as the cap).
MAX_CAPS = {
    "http_max_messages": 1000,
    "http_max_body_bytes": 16 * 1024 * 1024,
    "http_timeout": 600.0,
    "http_idle_timeout": 600.0,
    "http_replay_ttl": 86400.0,
    "http_replay_max_bytes": 16 * 1024 * 1024,
}
_CORS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, X-Request-Id, X-Sockethub-Request-Id",
    "Access-Control-Expose-Headers": "X-Request-Id, X-Idempotent-Replay",
    "Access-Control-Max-Age": "600",
}
_STORE_DOWN = "idempotency store unavailable"


def _capped(settings: Any, name: str) -> Any:
    return min(getattr(settings, name), MAX_CAPS[name])


class _Actions:
    def __init__(self, hub: Hub, origin_ok: Callable[[str | None, str], bool]):
        s = hub.settings
        self.hub = hub
        self.origin_ok = origin_ok
        self.max_messages = int(_capped(s, "http_max_messages"))
        self.max_body = int(_capped(s, "http_max_body_bytes"))
        self.timeouts = (_capped(s, "http_timeout"), _capped(s, "http_idle_timeout"))
        keyring = Keyring.from_secrets(s.secret, s.secret_previous)
        self.store = ReplayStore(
            hub.redis,
            keyring,
            _capped(s, "http_replay_ttl"),
            int(_capped(s, "http_replay_max_bytes")),
            running_ttl=_capped(s, "http_timeout") + 30,
        )

    # -- responses ---------------------------------------------------------------------
    def _cors(self, response: Response) -> Response:
        response.headers.update(_CORS)
        origin = request.headers.get("Origin")
        if "*" in self.hub.settings.allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = "*"
        elif origin and self.origin_ok(origin, request.host):
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Vary"] = "Origin"
        return response

    def _json(self, status: int, body: dict[str, Any], **headers: str) -> Response:
        self.hub.metrics.inc("sockethub_http_actions_total", status=str(status))
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        response.headers.update(headers)
        return self._cors(response)

    def _ndjson(self, lines: Any, rid: str, replay: bool) -> Response:
        self.hub.metrics.inc("sockethub_http_actions_total", status="200")
        response = Response(lines, status=200, mimetype="application/x-ndjson")
        response.headers["Cache-Control"] = "no-store"
        response.headers["X-Request-Id"] = rid
        response.headers["X-Accel-Buffering"] = "no"  # nginx: pass each line on at once
        if replay:
            response.headers["X-Idempotent-Replay"] = "true"
        return self._cors(response)

    def _replay(self, rid: str) -> Response:
        return self._ndjson([(line + "\n").encode() for line in self.store.lines(rid)], rid, True)

    # -- views -------------------------------------------------------------------------
    def preflight(self, rid: str | None = None) -> Response:
        return self._cors(Response(status=204))

    def _admit(self, address: str) -> Response | None:
        """The address's limits: a new session per call, as a socket's would be."""
        if not self.hub.addresses.new_session(address):
            return self._json(
                429,
                {
                    "error": "Too many requests, please try again later. (new sessions per "
                    "minute from your address: SOCKETHUB_NEW_SESSIONS_PER_MINUTE)"
                },
                **{"Retry-After": "60"},
            )
        return None

    def get(self, rid: str | None = None) -> Response:
        address = self.hub.addresses.address(
            request.remote_addr or "", request.headers.get("X-Forwarded-For")
        )
        try:
            refused = self._admit(address)
            if refused is not None:
                return refused
            try:
                found = request_id(request.headers, None, rid or request.args.get("requestId"))
            except BodyError as exc:
                return self._json(exc.status, exc.body())
            if found is None:
                return self._json(400, {"error": "requestId is required"})
            status = self.store.status(found)
            if status == COMPLETE:
                return self._replay(found)
        except redis_lib.RedisError:
            return self._json(503, {"error": _STORE_DOWN})
        if status == RUNNING:
            return self._json(202, {"status": "in-progress", "requestId": found})
        return self._json(404, {"error": "request not found", "requestId": found})

    def post(self) -> Response:
        address = self.hub.addresses.address(
            request.remote_addr or "", request.headers.get("X-Forwarded-For")
        )
        try:
            refused = self._admit(address)
        except redis_lib.RedisError:
            return self._json(503, {"error": _STORE_DOWN})
        if refused is not None:
            return refused
        try:
            body = self._body()
            rid = request_id(request.headers, body)
            # A finished id is replayed whatever the body holds now (Sockethub's rule).
            if rid is not None and self.store.status(rid) == COMPLETE:
                return self._replay(rid)
            items = items_of(body, self.max_messages)
        except BodyError as exc:
            return self._json(exc.status, exc.body())
        except redis_lib.RedisError:
            return self._json(503, {"error": _STORE_DOWN})
        if not self.hub.addresses.open(address):
            return self._json(
                429,
                {
                    "error": "Too many requests, please try again later. (calls and sockets "
                    "open from your address: SOCKETHUB_MAX_SOCKETS_PER_ADDRESS)"
                },
                **{"Retry-After": "5"},
            )
        streaming = False
        try:
            response = self._start(items, rid, address)
            streaming = response.is_streamed
            return response
        finally:
            if not streaming:
                self.hub.addresses.closed(address)

    def _start(self, items: list[Any], rid: str | None, address: str) -> Response:
        recorder = None
        if rid is None:
            if self.hub.settings.http_require_request_id:
                return self._json(400, {"error": "requestId is required"})
            rid = secrets.token_hex(8)  # returned in X-Request-Id; nothing kept
        else:
            try:
                claimed = self.store.claim(rid)
                if claimed == COMPLETE:
                    return self._replay(rid)
            except redis_lib.RedisError:
                return self._json(503, {"error": _STORE_DOWN})
            if claimed != NEW:
                return self._json(409, {"error": "request already in progress", "requestId": rid})
            recorder = self.store.recorder(rid)
        session = self.hub.sessions.create(self.hub.gateway_id)
        self.hub.metrics.inc("sockethub_sessions_started_total")
        call = HttpCall(self.hub, session, items, rid, recorder, self.timeouts, address)
        call.start()
        response = self._ndjson(call.lines(), rid, False)
        # Run when the server closes the answer, written or not (the client went away).
        response.call_on_close(lambda: self.hub.addresses.closed(address))
        return response

    def _body(self) -> Any:
        if request.mimetype != "application/json":
            raise BodyError(400, "request body must be a payload object or array of payloads")
        length = request.content_length
        if length is not None and length > self.max_body:
            raise BodyError(413, self._too_big(length))
        data = request.stream.read(self.max_body + 1)
        if len(data) > self.max_body:
            raise BodyError(413, self._too_big(None))
        try:
            return json.loads(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise BodyError(400, "request body is not UTF-8") from None
        except json.JSONDecodeError as exc:
            raise BodyError(
                400, f"request body is not valid JSON (line {exc.lineno}, column {exc.colno})"
            ) from None

    def _too_big(self, length: int | None) -> str:
        size = f"of {length} bytes " if length is not None else ""
        return (
            f"request body {size}is over the limit of {self.max_body} bytes "
            "(SOCKETHUB_HTTP_MAX_BODY_BYTES)"
        )


def register_http_actions(
    app: Flask, hub: Hub, origin_ok: Callable[[str | None, str], bool]
) -> None:
    """The routes; when the setting is off, a 404 at every one of them."""
    actions = _Actions(hub, origin_ok) if hub.settings.http_actions else None

    def view(rid: str | None = None) -> Response:
        if actions is None:
            return Response(
                json.dumps({"error": "HTTP actions are not enabled on this gateway"}),
                status=404,
                mimetype="application/json",
            )
        if request.method == "OPTIONS":
            return actions.preflight(rid)
        if request.method == "POST" and rid is None:
            return actions.post()
        if request.method == "GET":
            return actions.get(rid)
        return actions._json(405, {"error": "use POST here, or GET a request id"})

    methods = ["GET", "POST", "OPTIONS"]
    app.add_url_rule(PATH, "sockethub_http", view, methods=methods, provide_automatic_options=False)
    app.add_url_rule(
        f"{PATH}/<rid>",
        "sockethub_http_id",
        view,
        methods=methods,
        provide_automatic_options=False,
    )
