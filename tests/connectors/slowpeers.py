"""Hostile peers for the HTTP client's deadline tests: 127.0.0.1 only.

``TrickleServer`` reads a request and then answers one byte every ``interval`` seconds,
status line and headers included, which a per-``recv`` socket timeout never trips.
``TrickleProxy`` puts the same drip in front of another server (a TLS one: its handshake
then crawls). Both hold at most a few connections and stop cleanly.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time

__all__ = ["TrickleProxy", "TrickleServer"]

HEADERS = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Padding: " + b"a" * 4000


class _Dripper:
    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            worker = threading.Thread(target=self._guarded, args=(conn,), daemon=True)
            self._threads.append(worker)
            worker.start()

    def _guarded(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass  # the client gave up: what these tests expect
        finally:
            conn.close()

    def drip(self, conn: socket.socket, data: bytes) -> None:
        for i in range(len(data)):
            if self._stop.is_set():
                return
            conn.sendall(data[i : i + 1])
            time.sleep(self.interval)

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        self._stop.set()
        self._accepter.join(2)
        self.listener.close()
        for worker in self._threads:
            worker.join(2)


class TrickleServer(_Dripper):
    """Answers any request with a status line and headers, one byte per ``interval``;
    over TLS (a quick handshake, then the drip) when given a server context."""

    def __init__(self, interval: float, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        super().__init__(interval)

    def serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        if self.tls is not None:
            conn = self.tls.wrap_socket(conn, server_side=True)
        conn.recv(65536)  # the request: one small write from the client
        self.drip(conn, HEADERS)


class TrickleProxy(_Dripper):
    """Forwards to ``127.0.0.1:upstream``; what comes back is dripped one byte at a time."""

    def __init__(self, upstream: int, interval: float) -> None:
        self.upstream = upstream
        super().__init__(interval)

    def serve(self, conn: socket.socket) -> None:
        with socket.create_connection(("127.0.0.1", self.upstream), timeout=5) as up:
            pump = threading.Thread(target=self._forward, args=(conn, up), daemon=True)
            pump.start()
            up.settimeout(5)
            while not self._stop.is_set():
                data = up.recv(4096)
                if not data:
                    return
                self.drip(conn, data)

    def _forward(self, client: socket.socket, up: socket.socket) -> None:
        try:
            client.settimeout(5)
            while data := client.recv(4096):
                up.sendall(data)
        except OSError:
            pass
