"""The browser's TCP socket under simple-websocket: every write whole, or the socket fails.

simple-websocket 1.1.0 writes each frame with one ``socket.send`` and ignores the count it
returns (its issue #45, fixed upstream only on its main branch). Under gevent a reader
slower than the kernel's buffer then got a truncated frame and a corrupt stream. Every write
the library makes (messages, close frames, pings, pongs, the handshake) goes through
``Wire.send``, which takes the socket's one write lock, loops until every byte is written,
and fails the socket (shut down, never a half frame followed by more) when the deadline
passes. One client that stops reading thus holds a writer for at most ``timeout`` seconds.

Closing lingers (RFC 6455 §7.1.1: the server closes the TCP connection first): closing a
socket with unread bytes makes the kernel answer with a reset, which the browser sees
instead of our close frame. So ``close`` shuts down our side, reads and drops what the
client is still sending for up to ``LINGER`` seconds, then closes.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["Wire", "SendTimeout", "LINGER", "capped", "abort"]

log = logging.getLogger("sockethub.wire")

LINGER = 2.0  # seconds a closing socket keeps reading what the client still sends


class SendTimeout(OSError):
    """A write did not complete within its deadline; the socket has been shut down."""


class Wire:
    """Wraps the accepted socket: whole writes with a deadline, a lingering close."""

    def __init__(self, sock: Any, timeout: float):
        self._sock = sock
        self.timeout = timeout
        self._cap: float | None = None  # a shorter deadline while a close frame is sent
        self._lock = threading.Lock()
        self._aborted = False
        self._closed = False
        # gevent's socket waits for writability on EAGAIN unless told a timeout of 0.
        self._gevent = type(sock).__module__.startswith("gevent")

    # what simple-websocket and selectors use
    def fileno(self) -> int:
        return int(self._sock.fileno())

    def recv(self, size: int) -> bytes:
        return bytes(self._sock.recv(size))

    def send(self, data: bytes) -> int:
        """Write all of ``data`` or raise ``SendTimeout`` (or ``OSError``) with the socket
        shut down. Returns ``len(data)``, as ``sendall`` would have written."""
        budget = self._cap if self._cap is not None else self.timeout
        deadline = time.monotonic() + budget
        if not self._lock.acquire(timeout=max(budget, 0.001)):
            self.abort()
            raise SendTimeout(f"socket busy for more than {budget:g} s")
        try:
            view = memoryview(data).cast("B")
            total = len(view)
            # The usual case: the kernel takes it all at once, no selector needed (one built
            # per frame and polled was a tenth of the gateway's writer, bench/profile.md).
            view = view[self._try_send(view) :]
            if not view:
                return total
            with selectors.DefaultSelector() as sel:
                sel.register(self._sock, selectors.EVENT_WRITE)
                while view:
                    left = deadline - time.monotonic()
                    if left <= 0 or not sel.select(left):
                        self.abort()
                        raise SendTimeout(
                            f"{total - len(view)} of {total} bytes written in {budget:g} s"
                        )
                    try:
                        # MSG_DONTWAIT: a blocking socket (threads, not gevent) must not
                        # block here past the deadline; gevent's is non-blocking anyway.
                        sent = self._sock.send(view, socket.MSG_DONTWAIT)
                    except (BlockingIOError, InterruptedError):
                        continue
                    view = view[sent:]
            return total
        except OSError:
            if not self._aborted:
                self.abort()
            raise
        finally:
            self._lock.release()

    def _try_send(self, view: memoryview) -> int:
        """What the kernel takes of ``view`` now, without waiting (0 if nothing)."""
        try:
            if self._gevent:  # a timeout of 0: raise at once instead of waiting to write
                return int(self._sock.send(view, socket.MSG_DONTWAIT, 0.0))
            return int(self._sock.send(view, socket.MSG_DONTWAIT))
        except (BlockingIOError, InterruptedError):
            return 0

    def abort(self) -> None:
        """Cut the connection at once (the receive loop then sees end of stream)."""
        self._aborted = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._aborted:
            self._linger()
        with contextlib.suppress(OSError):
            self._sock.close()

    def _linger(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + LINGER
            with selectors.DefaultSelector() as sel:
                sel.register(self._sock, selectors.EVENT_READ)
                while (left := deadline - time.monotonic()) > 0:
                    if sel.select(left) and not self._sock.recv(65536):
                        return  # the client closed its side too
        except (OSError, ValueError):
            pass

    @contextlib.contextmanager
    def capped(self, seconds: float) -> Iterator[None]:
        self._cap = seconds
        try:
            yield
        finally:
            self._cap = None


def _wire_of(ws: Any) -> Wire | None:
    sock = getattr(ws, "sock", None)
    return sock if isinstance(sock, Wire) else None


@contextlib.contextmanager
def capped(ws: Any, seconds: float) -> Iterator[None]:
    """Sends on ``ws`` made inside take at most ``seconds`` each (close frames, shutdown)."""
    wire = _wire_of(ws)
    if wire is None:
        yield
        return
    with wire.capped(seconds):
        yield


def abort(ws: Any) -> None:
    wire = _wire_of(ws)
    if wire is not None:
        wire.abort()
