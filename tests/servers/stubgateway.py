"""Stub gateways for the proxy examples: they answer every path, naming themselves.

What a proxy passes on, and to which gateway, is seen there. An Engine.IO 4 handshake
(``?EIO=4`` without ``sid``) is answered as python-engineio answers it,
``0{"sid": "<stub>-<n>-...", ...}``, so a test can tell which stub made a session and
check that its later requests reach that stub.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

__all__ = ["stub_gateways"]


class _Stub(http.server.BaseHTTPRequestHandler):
    name = ""
    seen: list[str] = []
    counter = itertools.count()
    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        type(self).seen.append(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        query = parse_qs(urlsplit(self.path).query)
        cookie = None
        if "EIO" in query and "sid" not in query:
            sid = f"{self.name}-{next(self.counter)}-{'x' * 12}"
            opened = {"sid": sid, "upgrades": ["websocket"], "pingInterval": 25000}
            body = ("0" + json.dumps(opened | {"pingTimeout": 20000})).encode()
            cookie = f"sockethub_eio={sid}; path=/sockethub; SameSite=Lax; HttpOnly"
        else:
            body = f"gateway {self.name} saw {self.path}".encode()
        self.send_response(200)
        if cookie:  # as gateway/sio.py's python-engineio sets it
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Type", "text/plain; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = _answer  # noqa: N815 (http.server's naming)
    do_POST = _answer  # noqa: N815

    def log_message(self, *_args: object) -> None:
        pass


@contextlib.contextmanager
def stub_gateways(count: int = 2) -> Iterator[list[tuple[int, list[str]]]]:
    """``count`` stubs named gw1, gw2, ...: (port, paths seen) each."""
    made = []
    for i in range(count):
        name = f"gw{i + 1}"
        seen: list[str] = []
        handler = type(name, (_Stub,), {"name": name, "seen": seen})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        made.append((server, seen))
    try:
        yield [(server.server_address[1], seen) for server, seen in made]
    finally:
        for server, _seen in made:
            server.shutdown()
            server.server_close()
