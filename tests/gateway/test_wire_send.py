"""``Wire.send``'s usual case: the kernel takes the whole frame at once, and no selector is
built for it (one per frame was a tenth of the gateway's writer, bench/profile.md)."""

from __future__ import annotations

import socket
import threading
from typing import Any

from gateway.wire import Wire


class Eager:
    """Takes everything at once, and has no file descriptor to register with a selector."""

    def __init__(self) -> None:
        self.got = b""

    def send(self, data: Any, flags: int = 0) -> int:
        assert flags & socket.MSG_DONTWAIT
        self.got += bytes(data)
        return len(data)

    def fileno(self) -> int:
        raise AssertionError("a selector was built for a write the kernel took at once")


def test_a_write_the_kernel_takes_at_once_needs_no_selector():
    sock = Eager()
    assert Wire(sock, timeout=1).send(b"x" * 5000) == 5000
    assert sock.got == b"x" * 5000


def test_a_write_the_kernel_takes_in_parts_is_still_written_whole():
    a, b = socket.socketpair()
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = bytes(range(256)) * 4096  # 1 MiB: far over the send buffer
    got = bytearray()

    def read() -> None:
        while len(got) < len(data):
            chunk = b.recv(65536)
            if not chunk:
                return
            got.extend(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    assert Wire(a, timeout=10).send(data) == len(data)
    reader.join(10)
    assert bytes(got) == data
    a.close()
    b.close()
