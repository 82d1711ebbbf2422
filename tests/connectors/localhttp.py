"""A local HTTP(S) server for the HTTP client's tests: 127.0.0.1 only, one route table.

Kept apart from the tests so each stays readable; ``Server(tls=...)`` runs it over TLS with
the throwaway certificate in ``fixtures/tls`` (CN and SAN ``localhost``, ``127.0.0.1``).
"""

from __future__ import annotations

import email.utils
import gzip
import json
import socket
import ssl
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

__all__ = ["BOMB", "CAP", "NOISE", "NOISE_TEXT", "TLS", "Server", "SilentServer"]

TLS = Path(__file__).parent / "fixtures" / "tls"
CAP = 1000
BOMB = gzip.compress(b"\0" * 10_000_000)  # ~10 KB on the wire, 10 MB once inflated
NOISE_TEXT = bytes(range(256)) * 3 + bytes(218) + b"tail"  # 990 bytes
NOISE = gzip.compress(NOISE_TEXT, compresslevel=0)  # stored, not squeezed: 1,000+ bytes


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output clean
        pass

    def _send(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _chunked(self, parts: list[bytes]) -> None:
        self.send_response(200)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for part in parts:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
        self.wfile.write(b"0\r\n\r\n")

    def do_GET(self) -> None:  # one route table, read top to bottom
        path = self.path.split("?", 1)[0]
        port = self.server.server_address[1]
        if path == "/page":
            self._send(200, b"<h1>hello</h1>", Content_Type="text/html; charset=utf-8")
        elif path == "/echo":
            seen = {k.lower(): v for k, v in self.headers.items()}
            self._send(200, json.dumps(seen).encode(), Content_Type="application/json")
        elif path in ("/missing", "/gone"):
            self._send(404 if path == "/missing" else 410, b"no")
        elif path == "/boom":
            self._send(500, b"oops")
        elif path == "/busy":
            self._send(429, b"slow down", Retry_After="120")
        elif path == "/busy-until":
            when = email.utils.formatdate(time.time() + 60, usegmt=True)
            self._send(503, b"later", Retry_After=when)
        elif path == "/forbidden":
            self._send(403, b"go away")
        elif path == "/redirect":
            self._send(302, Location="/page")
        elif path.startswith("/chain/"):
            left = int(path.rsplit("/", 1)[1])
            if left:
                self._send(301, Location=f"/chain/{left - 1}")
            else:
                self._send(200, b"end of chain")
        elif path == "/to-private":
            self._send(302, Location=f"http://127.0.0.1:{port}/page")
        elif path == "/to-ftp":
            self._send(302, Location="ftp://files.example/pub/feed.xml")
        elif path == "/to-file":
            self._send(307, Location="file:///etc/passwd")
        elif path == "/to-b":
            self._send(302, Location="http://b.test/echo")
        elif path == "/to-a":
            self._send(302, Location="/echo")
        elif path == "/big":
            self._send(200, b"x" * (CAP + 1))
        elif path == "/big-chunked":
            self._chunked([b"y" * 100] * 20)
        elif path == "/small-chunked":
            self._chunked([b"z" * 100] * 5)
        elif path == "/big-close":  # no length, no chunks: the body ends when we close
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"w" * 5000)
            self.close_connection = True
        elif path == "/etag":
            if self.headers.get("If-None-Match") == '"v1"':
                self._send(304, ETag='"v1"')
            else:
                self._send(200, b"version one", ETag='"v1"')
        elif path == "/gzip":
            self._send(200, gzip.compress(b"squeezed " * 50), Content_Encoding="gzip")
        elif path == "/deflate":
            self._send(200, zlib.compress(b"deflated " * 50), Content_Encoding="deflate")
        elif path == "/deflate-raw":
            raw = zlib.compressobj(wbits=-15)
            body = raw.compress(b"raw deflate " * 50) + raw.flush()
            self._send(200, body, Content_Encoding="deflate")
        elif path == "/bomb":
            self._send(200, BOMB, Content_Encoding="gzip")
        elif path == "/noise":  # chunked, so no Content-Length gives the size away
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Content-Encoding", "gzip")
            self.end_headers()
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(NOISE), NOISE))
        elif path == "/trickle":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(100):
                    self.wfile.write(b".")
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass
        elif path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"only ten b")
            self.close_connection = True
        else:
            self._send(404, b"unknown route")


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up mid-body (the cap, a timeout) is what these tests do.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class Server:
    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if isinstance(self.httpd.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class SilentServer:
    """Accepts connections and never says a word (read timeouts)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                self._held.append(self.listener.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._held:
            conn.close()
        self.listener.close()
