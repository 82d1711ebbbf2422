"""A blocking WebSocket client that negotiates like a browser: it offers permessage-deflate.

Chrome and Firefox send ``Sec-WebSocket-Extensions: permessage-deflate;
client_max_window_bits`` on every WebSocket (RFC 7692); websocket-client offers nothing.
A server that accepts the offer keeps zlib state per socket, so memory measured with
websocket-client alone is not what browsers cost. Built on wsproto, which the gateway's
own WebSocket library uses; text frames only, which is all the gateway speaks.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Message,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.extensions import PerMessageDeflate

__all__ = ["BrowserWS"]


class BrowserWS:
    def __init__(self, url: str, timeout: float, deflate: bool = True):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.extensions: list[str] = []  # as accepted, with parameters
        self._texts: list[str] = []
        self._partial: list[str] = []
        offer = [PerMessageDeflate()] if deflate else []
        host = f"{parts.hostname}:{parts.port}"
        self.sock.sendall(self.ws.send(Request(host=host, target=parts.path, extensions=offer)))
        while True:
            event = self._next_event()
            if isinstance(event, AcceptConnection):
                self.extensions = [repr(e) for e in event.extensions]
                return
            if isinstance(event, RejectConnection):
                raise ConnectionError(f"upgrade refused: {event.status_code}")

    def _next_event(self) -> object:
        while True:
            for event in self.ws.events():
                return event
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("connection closed")
            self.ws.receive_data(data)

    def send(self, text: str) -> None:
        self.sock.sendall(self.ws.send(TextMessage(data=text)))

    def recv(self) -> str:
        """The next whole text message (answers pings on the way)."""
        while True:
            event = self._next_event()
            if isinstance(event, Ping):
                self.sock.sendall(self.ws.send(event.response()))
            elif isinstance(event, CloseConnection):
                raise ConnectionError(f"closed by the server: {event.code} {event.reason}")
            elif isinstance(event, Message) and isinstance(event.data, str):
                self._partial.append(event.data)
                if event.message_finished:
                    text = "".join(self._partial)
                    self._partial = []
                    return text

    def settimeout(self, seconds: float) -> None:
        self.sock.settimeout(seconds)

    def close(self) -> None:
        try:
            self.sock.sendall(self.ws.send(CloseConnection(code=1000)))
        except Exception:
            pass
        self.sock.close()
