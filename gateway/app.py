"""The Flask application factory: the one composition root of a gateway process."""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, abort, jsonify, request, send_from_directory

from envelopes import logjson
from envelopes.registry import Registry, default_registry
from envelopes.settings import Settings

from .connection import Connection
from .enqueue import Enqueuer
from .frames import HARD_FRAME_FACTOR
from .httpactions import register_http_actions
from .hub import Hub
from .sio import SioEndpoint, SioRouter
from .upgrade import websocket_route
from .uploads import register as register_uploads
from .websub import register as register_websub

__all__ = ["create_app", "origin_allowed"]

STATIC = os.path.join(os.path.dirname(__file__), "static")
log = logging.getLogger("sockethub.gateway")


def origin_allowed(origin: str | None, host: str, allowed: tuple[str, ...]) -> bool:
    """Browsers always send ``Origin``; non-browser clients may not, and are let through."""
    if not origin:
        return True
    if "*" in allowed:
        return True
    if allowed:
        return origin.rstrip("/") in {a.rstrip("/") for a in allowed}
    return urlsplit(origin).netloc.lower() == host.lower()


def create_app(
    overrides: dict[str, Any] | None = None,
    *,
    registry: Registry | None = None,
    enqueuer: Enqueuer | None = None,
) -> Flask:
    settings = Settings.from_env(overrides=overrides)
    settings.require("redis_url", "secret")
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s[%(process)d]: %(message)s",
    )
    # (With JSON logs gunicorn's config gave the root its handler: basicConfig set no level.)
    logging.getLogger().setLevel(settings.log_level.upper())
    logjson.configure(settings.log_format)
    registry = registry or default_registry()
    if settings.platforms:
        registry = registry.only(settings.platforms)
    hub = Hub(settings, registry, enqueuer)

    app = Flask(__name__, static_folder=None)
    app.extensions["sockethub"] = hub

    def sockethub(ws: Any) -> None:
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, request.host, settings.allowed_origins):
            ws.close(reason=1008, message=f"origin not allowed: {origin}"[:120])
            return
        addr = hub.addresses.address(
            request.remote_addr or "", request.headers.get("X-Forwarded-For")
        )
        if not hub.addresses.open(addr):
            hub.metrics.inc("sockethub_sockets_refused_total", reason="sockets-per-address")
            ws.close(reason=1008, message="too many sockets from your address")
            return
        try:
            Connection(hub, ws, addr).serve()
        finally:
            hub.addresses.closed(addr)

    websocket_route(
        app,
        "/sockethub",
        sockethub,
        send_timeout=settings.send_timeout,
        deflate=settings.ws_deflate,  # without context takeover: no zlib state per socket
        options={
            # Frames up to HARD_FRAME_FACTOR times our limit are read (and refused with a
            # frame-too-large reply); larger ones close the socket with 1009 as they arrive,
            # so the library never holds more than that for one socket.
            "max_message_size": settings.max_frame_bytes * HARD_FRAME_FACTOR,
            "ping_interval": 25,
        },
    )

    register_websub(app, hub.redis, settings)  # followed feeds' WebSub callback

    @app.before_request
    def refuse_while_draining() -> Any:
        # A stopping gateway takes no new socket: a balancer retries the 503 elsewhere.
        if hub.draining and request.path == "/sockethub":
            return jsonify({"status": "draining", "gateway": hub.gateway_id}), 503
        return None

    # Socket.IO clients (Sockethub's SDK) at the same path, told apart by ``EIO``.
    sio = SioEndpoint(
        hub,
        lambda origin, env: origin_allowed(
            origin, env.get("HTTP_HOST", ""), settings.allowed_origins
        ),
    )
    app.wsgi_app = SioRouter(app.wsgi_app, sio, "/sockethub", settings.send_timeout)  # type: ignore[method-assign]

    # Sockethub's one-shot calls for scripts (off unless SOCKETHUB_HTTP_ACTIONS is set).
    register_http_actions(
        app, hub, lambda origin, host: origin_allowed(origin, host, settings.allowed_origins)
    )

    # Files for XMPP HTTP upload (XEP-0363), sent on by a worker (gateway/uploads.py).
    register_uploads(
        app, hub, lambda origin, host: origin_allowed(origin, host, settings.allowed_origins)
    )

    @app.get("/healthz")
    def healthz() -> Any:
        ok, body = hub.health()
        if hub.draining:  # the balancer's check takes us out before the sockets close
            ok, body = False, {**body, "status": "draining"}
        return jsonify(body), (200 if ok else 503)

    @app.get("/metrics")
    def metrics() -> Any:
        return hub.metrics_text(), 200, {"Content-Type": "text/plain; version=0.0.4"}

    @app.get("/")
    def index() -> Any:
        return send_from_directory(STATIC, "index.html")

    @app.get("/static/<path:name>")
    @app.get("/<path:name>")
    def static_file(name: str) -> Any:
        if not os.path.isfile(os.path.join(STATIC, name)):
            abort(404)
        response = send_from_directory(STATIC, name)
        if name in ("socket.io.js", "sockethub-client.js"):
            # Pages of other origins load these (Sockethub serves its copies so too).
            response.headers["Access-Control-Allow-Origin"] = "*"
        return response

    log.info("gateway app created (redis %s)", _redact(settings.redis_url))
    return app


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(parts.password, "***")
    return url
