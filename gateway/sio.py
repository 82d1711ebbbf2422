"""Sockethub's Socket.IO endpoint, next to our WebSocket at the same path.

socket.io-client asks for ``/sockethub/?EIO=4&transport=polling`` (then upgrades to
``websocket``); our own clients open ``/sockethub`` with no ``EIO``. ``SioRouter`` sends
the first kind to python-socketio before Flask sees the request, in the same process, so
both transports share one hub: one pump, one rate limit per session, one set of metrics.

Options as Sockethub's (``listener.ts``): Engine.IO protocol 4, the ``/`` namespace only,
``SOCKETHUB_SIO_MAX_PAYLOAD_BYTES`` (256 KiB) per HTTP body or WebSocket message, ping
every 25 s with a 20 s timeout, CORS and WebSocket origins checked by our origin policy
(``SOCKETHUB_ALLOWED_ORIGINS``). Events: ``schemas``, ``credentials`` and ``message``
(``gateway.siosession``); see docs/sockethub-compatibility.md.

Acks are sent by the session's writer when the reply comes out of the stream, so an ack
keeps its place among the events, and no greenlet waits per pending request. python-
socketio has no public way to send an ack later, so ``_Server`` overrides the one method
that dispatches an event (``_handle_event_internal``) to hand the handler the ack's
sender, and sends it with ``_send_packet``; python-socketio is pinned below 6 for that.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import socketio
from socketio import packet

from envelopes.errors import internal_error
from envelopes.jsonschema.payload import schemas_reply

from .pipeline import Refused, open_session
from .siosession import SioSession
from .sioshapes import TOO_MANY_SOCKETS, server_error
from .upgrade import wired

if TYPE_CHECKING:
    from .hub import Hub

__all__ = ["SioEndpoint", "SioRouter"]

log = logging.getLogger("sockethub.sio")

Ack = Callable[[Any], None] | None


def _async_mode() -> str:
    """gevent under gunicorn's gevent worker (it patches the socket module); threads in
    a plain process (the development server, tests that build an app in-process)."""
    try:
        from gevent import monkey

        return "gevent" if monkey.is_module_patched("socket") else "threading"
    except ImportError:
        return "threading"


class _Server(socketio.Server):  # type: ignore[misc]
    """Hands ``SioEndpoint.event`` the event and a sender for its ack (None if the client
    asked for none), instead of acking with the handler's return value at once."""

    endpoint: SioEndpoint

    def _handle_event_internal(
        self, server: Any, sid: str, eio_sid: str, data: list[Any], namespace: str, id: Any
    ) -> None:
        ack: Ack = None
        if id is not None:

            def ack(payload: Any) -> None:
                pkt = self.packet_class(packet.ACK, namespace=namespace, id=id, data=[payload])
                try:
                    self._send_packet(eio_sid, pkt)
                except Exception:
                    pass  # the client has gone: its session keeps the reply for nobody

        self.endpoint.event(sid, str(data[0]), list(data[1:]), ack)


class _Client:
    """What a ``SioSession`` may do to its client: emit, disconnect, drop."""

    def __init__(self, server: _Server, sid: str):
        self._server = server
        self._sid = sid

    def emit(self, event: str, data: Any) -> None:
        self._server.emit(event, data, to=self._sid)

    def disconnect(self) -> None:
        """Socket.IO's server disconnect: socket.io-client does not reconnect after it."""
        self._server.disconnect(self._sid)

    def drop(self) -> None:
        """Close the Engine.IO transport: socket.io-client reconnects (to another process,
        when this one is shutting down). Without waiting for the client to read what is
        queued (``Server.disconnect`` would wait, for ever for a client that stopped)."""
        eio_sid = self._server.manager.eio_sid_from_sid(self._sid, "/")
        sock = self._server.eio.sockets.get(eio_sid) if eio_sid is not None else None
        if sock is not None:
            sock.close(wait=False)


# HAProxy's ``stick store-response res.cook(sockethub_eio)`` reads it; the client needs
# not send it back (polls carry ``?sid=``), so cross-origin pages work the same.
ENGINEIO_COOKIE = {
    "name": "sockethub_eio",
    "path": "/sockethub",
    "SameSite": "Lax",
    "HttpOnly": True,
}


class SioEndpoint:
    def __init__(self, hub: Hub, origin_ok: Callable[[str | None, dict[str, Any]], bool]):
        s = hub.settings
        self.hub = hub
        self.server = _Server(
            async_mode=_async_mode(),
            cors_allowed_origins=origin_ok,
            max_http_buffer_size=s.sio_max_payload_bytes,
            ping_interval=25,
            ping_timeout=20,
            transports=["polling", "websocket"],
            always_connect=True,  # Sockethub emits its cap's ``error`` event, then disconnects
            async_handlers=False,  # one client's events in order: credentials before connect
            serve_client=False,
            # The handshake's answer names its sid in a cookie, so a load balancer can learn
            # which process made an Engine.IO session from a header (deploy/haproxy).
            cookie=dict(ENGINEIO_COOKIE),
            logger=False,
            engineio_logger=False,
        )
        self.server.endpoint = self
        self.server.on("connect", self._connect)
        self.server.on("disconnect", self._disconnect)
        self._clients: dict[str, tuple[SioSession, str]] = {}

    # -- connections -------------------------------------------------------------------
    def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> bool:
        hub = self.hub
        addr = hub.addresses.address(
            environ.get("REMOTE_ADDR", ""), environ.get("HTTP_X_FORWARDED_FOR")
        )
        client = _Client(self.server, sid)
        if not hub.addresses.open(addr):
            return self._refuse(client, "sockets-per-address", TOO_MANY_SOCKETS)
        try:
            session, _ = open_session(hub, addr)
        except Refused as refused:
            hub.addresses.closed(addr)
            return self._refuse(client, refused.reason, str(refused))
        except Exception:
            hub.addresses.closed(addr)
            raise
        conn = SioSession(hub, session, client, sid, addr)
        self._clients[sid] = (conn, addr)
        hub.metrics.inc("sockethub_sessions_started_total")
        conn.start()
        log.info("session %s started (Socket.IO %s)", session.sid, sid)
        return True

    def _refuse(self, client: _Client, reason: str, summary: str) -> bool:
        """Sockethub's way: the ``error`` event, then a server disconnect (after which
        socket.io-client does not reconnect by itself). Not a refused connect: its
        DISCONNECT would carry a payload, which socket.io-client 4 cannot parse."""
        self.hub.metrics.inc("sockethub_sockets_refused_total", reason=reason)
        client.emit("error", server_error(summary))
        client.disconnect()
        return True

    def _disconnect(self, sid: str, reason: Any = None) -> None:
        entry = self._clients.pop(sid, None)
        if entry is None:
            return
        conn, addr = entry
        try:
            conn.finish()
        finally:
            self.hub.addresses.closed(addr)

    # -- events ------------------------------------------------------------------------
    def event(self, sid: str, event: str, args: list[Any], ack: Ack) -> None:
        try:
            self._event(sid, event, args, ack)
        except Exception as exc:
            err = internal_error(log, f"unexpected error handling a Socket.IO {event!r} event", exc)
            if ack is not None:
                ack({"error": err.message})

    def _event(self, sid: str, event: str, args: list[Any], ack: Ack) -> None:
        entry = self._clients.get(sid)
        if entry is None:
            return
        conn = entry[0]
        admitted = conn.admit()
        if admitted is not True:
            if isinstance(admitted, str):
                first = args[0] if args else None
                conn.refuse_ack(ack, first if event != "schemas" else None, admitted)
            return
        if event == "schemas":
            # The first string argument is the fingerprint the client has (Sockethub's rule).
            known = next((a for a in args if isinstance(a, str)), None)
            reply = schemas_reply(known, self.hub.registry)
            if ack is not None:
                ack(reply)
            else:
                self.server.emit("schemas", reply, to=sid)
        elif event in ("credentials", "message"):
            conn.request(event, args[0] if args else None, ack)
        elif ack is not None:
            conn.refuse_ack(
                ack, None, f"unknown event {event[:64]!r}; expected schemas, credentials or message"
            )


class SioRouter:
    """WSGI middleware: Engine.IO requests (``EIO`` in the query) at ``path`` go to the
    Socket.IO server, everything else to ``app``."""

    def __init__(self, app: Any, endpoint: SioEndpoint, path: str, send_timeout: float):
        self.app = app
        self.endpoint = endpoint
        self.path = path.rstrip("/")
        self.send_timeout = send_timeout

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").rstrip("/") == self.path and "EIO" in parse_qs(
            environ.get("QUERY_STRING", "")
        ):
            if environ.get("HTTP_UPGRADE", "").lower() == "websocket":
                environ = wired(dict(environ), self.send_timeout)
            return self.endpoint.server.handle_request(environ, start_response)
        return self.app(environ, start_response)
