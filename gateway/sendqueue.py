"""One socket's outgoing frames, bounded in bytes.

The pump must never wait on a browser, and a browser that stops reading must not make the
gateway hold its events: the session's stream in Redis already holds them for resume. So
``offer`` never blocks; past the budget the queue gives up (drops what it holds) and its
writer closes the socket with 4008, after which the browser resumes from its ``lastSeq``.
The replay of a resume is the one producer that may wait (``put``): it runs on the socket's
own request thread.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

__all__ = ["SendQueue", "BEHIND", "FINISHED"]

BEHIND = object()  # ``get`` result: the socket fell too far behind
FINISHED = object()  # ``get`` result: the socket is gone


def size_of(item: Any) -> int:
    if isinstance(item, dict):
        frame = item.get(b"f", b"")
        return len(frame) + 64 if isinstance(frame, (bytes, str)) else 64
    return len(item) if isinstance(item, (bytes, str)) else 64


class SendQueue:
    def __init__(self, budget: int):
        self.budget = budget
        self._items: deque[tuple[Any, int]] = deque()
        self._bytes = 0
        self._state: object | None = None  # BEHIND or FINISHED once given up
        self._cond = threading.Condition()

    @property
    def queued_bytes(self) -> int:
        return self._bytes

    def _fits(self, size: int) -> bool:
        # One frame larger than the whole budget still goes, alone.
        return not self._items or self._bytes + size <= self.budget

    def offer(self, item: Any) -> bool:
        """Queue without waiting; over the budget, give up on the socket (False)."""
        size = size_of(item)
        with self._cond:
            if self._state is not None:
                return False
            if not self._fits(size):
                self._give_up(BEHIND)
                return False
            self._push(item, size)
            return True

    def put(self, item: Any, timeout: float) -> bool:
        """Queue, waiting up to ``timeout`` for room; False if the socket is given up."""
        size = size_of(item)
        with self._cond:
            room = self._cond.wait_for(lambda: self._state is not None or self._fits(size), timeout)
            if not room:
                self._give_up(BEHIND)
            if self._state is not None:
                return False
            self._push(item, size)
            return True

    def _push(self, item: Any, size: int) -> None:
        self._items.append((item, size))
        self._bytes += size
        self._cond.notify_all()

    def _give_up(self, state: object) -> None:
        if self._state is None:
            self._state = state
        self._items.clear()
        self._bytes = 0
        self._cond.notify_all()

    def finish(self) -> None:
        with self._cond:
            self._give_up(FINISHED)

    def get(self) -> Any:
        """The next frame, or ``BEHIND``/``FINISHED``."""
        with self._cond:
            self._cond.wait_for(lambda: self._items or self._state is not None)
            if self._state is not None:
                return self._state
            item, size = self._items.popleft()
            self._bytes -= size
            self._cond.notify_all()
            return item
