"""Events leave the worker's loop here: ``emit`` queues them, a thread writes them to Redis.

Upstream lines arrive on the loop, and writing their events into every session's stream
takes Redis round trips; Redis may be slow, paused or gone for a while. So ``emit``
(called on the loop, or from any thread) only appends to a bounded in-memory FIFO and
returns: it never blocks and never raises because of Redis. The publisher thread takes
batches off the FIFO and hands them to ``deliver`` (the manager's writer), retrying with
backoff while Redis fails. One FIFO per connection, drained in turns by one thread: a
connection's events are written in the order they were emitted, nothing of a connection
is written past one of its events that has not been, and a connection that floods does
not hold back the events of the others.

Bounds: at most ``max_events`` events and ``max_bytes`` bytes of their JSON wait
(``SOCKETHUB_EVENT_QUEUE_MAX``, ``SOCKETHUB_EVENT_QUEUE_BYTES``). Past either, a new event
is dropped and counted against its connection; the emitter is never held up, since holding
the loop is what this module exists to avoid. Once there is room again, the next event of
that connection is preceded by one *gap* event (``gap(key, count)`` builds it) saying how
many were dropped and which setting was hit, so sessions learn they missed something
rather than seeing a silent hole; a connection with no later event gets its gap event as
soon as the queue is empty.

Delivery is at least once: a write whose answer never came (Redis slower than the socket
timeout) may have happened; it is written again, so a browser can see an event twice,
never not at all. ``deliver`` records its progress on each ``Item`` (``sessions``,
``done``), so a retry does not repeat what was already confirmed.

``settle(key, timeout)``, from a task thread (never the loop), waits until the events of
connection ``key`` queued before the call are written: a verb's reply is written after the
events it caused.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeout

__all__ = ["Publisher", "Item", "RETRYABLE", "BATCH"]

log = logging.getLogger("sockethub.publisher")

# What Redis being down, paused, loading or failing over looks like: retry, never drop.
RETRYABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeout,
    ReadOnlyError,
    OSError,
)
BATCH = 200  # events handed to ``deliver`` at once (one or two pipelines)
TURN = 16  # events of one connection per turn in a batch
BACKOFF_BASE = 0.05
BACKOFF_CAP = 2.0
WARN_EVERY = 10.0  # seconds between warnings while Redis keeps failing
GAP_BYTES = 512  # what a gap event is counted as


@dataclass
class Item:
    """One queued event of connection ``key``; ``number`` counts from 1 per publisher."""

    key: str
    activity: dict[str, Any]
    size: int
    number: int
    # The deliverer's progress, kept across retries: who gets it, how many have it.
    sessions: list[str] | None = None
    done: int = 0
    noted: bool = False  # counted by ``tasks/attention.py`` (a retry does not count it again)
    logged: bool = False  # in the connection's own log (``tasks/ownlog.py``), if a message


Deliver = Callable[[list[Item]], None]
Gap = Callable[[str, int], dict[str, Any]]


def _size(activity: dict[str, Any]) -> int:
    try:
        return len(json.dumps(activity, separators=(",", ":"), ensure_ascii=False))
    except (TypeError, ValueError):
        return GAP_BYTES  # ``deliver`` will fail on it and log it; count it small


class Publisher:
    def __init__(
        self,
        deliver: Deliver,
        gap: Gap,
        *,
        max_events: int,
        max_bytes: int,
        name: str = "sockethub-publisher",
        retryable: tuple[type[BaseException], ...] = RETRYABLE,
    ):
        self._deliver = deliver
        self._gap = gap
        self.max_events = max(1, max_events)
        self.max_bytes = max(1, max_bytes)
        self._retryable = retryable
        # One FIFO per connection, taken in turns: a connection that floods (or a burst
        # such as a long NAMES list) does not hold back everybody else's events.
        self._queues: dict[str, deque[Item]] = {}
        self._turns: deque[str] = deque()  # connections with queued events, in turn
        self._count = 0  # events queued, all connections
        self._bytes = 0
        self._dropped: dict[str, int] = {}  # connection → events dropped since its last one
        self._numbers = 0  # the last number given to an item
        # Per connection with events queued or being written: the last number written.
        self._written: dict[str, int] = {}
        self._last: dict[str, int] = {}  # ... and the last number queued
        self._cond = threading.Condition()
        self._closing = False
        self._give_up_at = float("inf")  # after close(timeout): stop retrying then
        self._last_drop_warning = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    # -- any thread, the loop included: never blocks on Redis --------------------------------
    def emit(self, key: str, activity: dict[str, Any]) -> None:
        size = _size(activity)
        with self._cond:
            if self._count >= self.max_events or self._bytes + size > self.max_bytes:
                self._dropped[key] = self._dropped.get(key, 0) + 1
                self._warn_drop()
                return
            missed = self._dropped.pop(key, 0)
            if missed:
                self._append(key, self._gap(key, missed), GAP_BYTES)
            self._append(key, activity, size)
            self._cond.notify_all()

    def _append(self, key: str, activity: dict[str, Any], size: int) -> None:
        self._numbers += 1
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
            self._turns.append(key)
        queue.append(Item(key, activity, size, self._numbers))
        self._last[key] = self._numbers
        self._written.setdefault(key, 0)
        self._count += 1
        self._bytes += size

    def _warn_drop(self) -> None:
        now = time.monotonic()
        if now - self._last_drop_warning >= WARN_EVERY:
            self._last_drop_warning = now
            log.warning(
                "event queue full (%d events, %d bytes; SOCKETHUB_EVENT_QUEUE_MAX, "
                "SOCKETHUB_EVENT_QUEUE_BYTES): dropping new events until Redis takes them; "
                "their sessions get a gap event",
                self._count,
                self._bytes,
            )

    @property
    def pending(self) -> int:
        with self._cond:
            return self._count

    # -- task threads ------------------------------------------------------------------------
    def settle(self, key: str, timeout: float) -> bool:
        """Wait until the events of connection ``key`` queued before this call are written;
        False if they were not within ``timeout`` seconds (Redis down: the caller goes on,
        its own write would wait anyway)."""
        with self._cond:
            target = self._last.get(key, 0)
            return self._cond.wait_for(
                lambda: self._written.get(key, target) >= target, max(0.0, timeout)
            )

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, trying for at most ``timeout`` seconds, then stop."""
        with self._cond:
            self._closing = True
            self._give_up_at = time.monotonic() + timeout
            self._cond.notify_all()
        self._thread.join(timeout + 1)

    # -- the publisher thread ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._count and not self._dropped and not self._closing:
                    self._cond.wait()
                if self._dropped and self._count < self.max_events:
                    # Room again: tell who missed events, even with no later event of theirs.
                    for key, missed in list(self._dropped.items()):
                        self._append(key, self._gap(key, missed), GAP_BYTES)
                    self._dropped.clear()
                if not self._count:
                    return  # closing, and nothing is left
                batch = self._take()
            self._write(batch)
            with self._cond:
                for item in batch:
                    self._count -= 1
                    self._bytes -= item.size
                    self._written[item.key] = item.number
                    if self._last[item.key] == item.number and item.key not in self._queues:
                        del self._written[item.key], self._last[item.key]  # all written
                self._cond.notify_all()

    def _take(self) -> list[Item]:
        """Up to ``TURN`` events of each connection in turn, at most ``BATCH`` in all, one
        pass: an event that arrives now waits behind at most one such batch, however much
        another connection has queued. A connection's events stay in order (one batch at a
        time is written)."""
        batch: list[Item] = []
        for _ in range(len(self._turns)):
            if len(batch) >= BATCH:
                break
            key = self._turns.popleft()
            queue = self._queues[key]
            for _ in range(min(TURN, len(queue), BATCH - len(batch))):
                batch.append(queue.popleft())
            if queue:
                self._turns.append(key)
            else:
                del self._queues[key]
        return batch

    def _write(self, batch: list[Item]) -> None:
        """Until ``deliver`` has taken the whole batch: back off while Redis fails; an item
        that fails otherwise (a bug, an event that cannot be encoded) is logged and skipped,
        so it cannot hold back every event behind it."""
        failures, warned = 0, 0.0
        while True:
            try:
                self._deliver(batch)
                if failures:
                    log.info("Redis takes events again after %d failed attempt(s)", failures)
                return
            except self._retryable as exc:
                failures += 1
                now = time.monotonic()
                if now >= self._give_up_at:
                    log.error("shutting down with %d event(s) not written: %s", len(batch), exc)
                    return
                if now - warned >= WARN_EVERY:
                    warned = now
                    log.warning(
                        "cannot write events to Redis (%s); %d queued, retrying",
                        exc,
                        self.pending,
                    )
                delay = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** min(failures, 16))
                time.sleep(min(delay, max(0.0, self._give_up_at - now)))
            except Exception:
                culprit = next((i for i in batch if not _finished(i)), None)
                if culprit is None:
                    return
                log.exception("dropping an event of connection %s: writing it failed", culprit.key)
                culprit.sessions, culprit.done = [], 0


def _finished(item: Item) -> bool:
    return item.sessions is not None and item.done >= len(item.sessions)
