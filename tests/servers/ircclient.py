"""A tiny raw-socket IRC client for integration tests, independent of our connector.

It plays "the other person in the channel": registers, answers PING, and lets a test
send raw lines and wait for what arrives. A reader thread keeps the socket drained and
ponged even while the test is busy elsewhere; every received line is kept in ``lines``.

    with RawIrcClient(server.host, server.port, "bob") as bob:
        bob.send("JOIN #sockethub")
        bob.wait_for(lambda line: " 366 " in line)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

__all__ = ["RawIrcClient"]

Predicate = Callable[[str], bool]


def _decode(data: bytes) -> str:
    # The same leniency a real client needs: latin-1 when a line is not UTF-8.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _command(line: str) -> tuple[str, list[str]]:
    """Just enough parsing for PING and registration numerics (no tags, no trailing)."""
    words = line.split(" ")
    if words and words[0].startswith("@"):
        words = words[1:]
    if words and words[0].startswith(":"):
        words = words[1:]
    return (words[0].upper(), words[1:]) if words else ("", [])


class RawIrcClient:
    """One registered IRC connection speaking raw lines."""

    def __init__(
        self,
        host: str,
        port: int,
        nick: str,
        *,
        user: str | None = None,
        realname: str = "raw test client",
        timeout: float = 10.0,
        password: str | None = None,
    ) -> None:
        self.nick = nick
        self.lines: list[str] = []  # everything received, in order, without CR LF
        self.arrived: dict[str, float] = {}  # line → time.monotonic() when it was read
        self.times: list[float] = []  # when each of ``lines`` was read (monotonic)
        self._unread: list[str] = []  # received and not yet returned by wait_for
        self._cond = threading.Condition()
        self._closed = False
        self._send_lock = threading.Lock()  # the reader thread sends PONGs too
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read, name=f"irc-{nick}", daemon=True)
        self._reader.start()
        try:
            if password:
                self.send(f"PASS {password}")
            self.send(f"NICK {nick}")
            self.send(f"USER {user or nick} 0 * :{realname}")
            welcome = self.wait_for(lambda ln: _command(ln)[0] in ("001", "432", "433"), timeout)
        except BaseException:
            self.close()
            raise
        if _command(welcome)[0] != "001":
            self.close()
            raise RuntimeError(f"registration as {nick} refused: {welcome}")

    def __enter__(self) -> RawIrcClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                with self._cond:
                    self._closed = True
                    self._cond.notify_all()
                return
            now = time.monotonic()
            buffer += data
            *complete, buffer = buffer.split(b"\n")
            for raw in complete:
                line = _decode(raw.rstrip(b"\r"))
                command, params = _command(line)
                if command == "PING":  # RFC 2812 §3.7.2: answer or be dropped
                    self.send("PONG " + " ".join(params))
                with self._cond:
                    self.lines.append(line)
                    self.times.append(now)
                    self.arrived.setdefault(line, now)
                    self._unread.append(line)
                    self._cond.notify_all()

    @property
    def closed(self) -> bool:
        """True once the server has closed the connection."""
        return self._closed

    def send(self, line: str) -> None:
        """Send one line; CR LF is added. A CR or LF inside is refused (one line only)."""
        if "\r" in line or "\n" in line:
            raise ValueError("one line at a time: no CR or LF inside")
        self.send_raw(line.encode("utf-8") + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (e.g. a latin-1 line); the caller adds CR LF."""
        with self._send_lock:
            self._sock.sendall(data)

    def wait_for(self, predicate: Predicate | str, timeout: float = 10.0) -> str:
        """The first unread line matching ``predicate`` (a callable, or a substring).

        Lines before it stay unread for later waits. Raises ``TimeoutError`` listing what
        did arrive, or ``ConnectionError`` when the server closed the connection first.
        """
        if isinstance(predicate, str):
            needle = predicate
            test: Predicate = lambda line: needle in line  # noqa: E731
        else:
            test = predicate
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index, line in enumerate(self._unread):
                    if test(line):
                        del self._unread[index]
                        return line
                if self._closed:
                    raise ConnectionError(f"{self.nick}: connection closed; got {self._unread}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.nick}: nothing matched in {timeout} s; got {self._unread}"
                    )
                self._cond.wait(left)

    def wait_closed(self, timeout: float = 10.0) -> None:
        """Wait until the server closes the connection."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.nick}: connection still open after {timeout} s")
                self._cond.wait(left)

    def close(self, message: str = "bye") -> None:
        """QUIT (when still connected) and close the socket."""
        if not self._closed:
            try:
                self.send(f"QUIT :{message}")
            except OSError:
                pass
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(timeout=5)
