"""One session's verbs on one upstream connection run in the order the gateway accepted them.

The gateway numbers them (``seq`` in the task payload, counted per session and
connection). Celery's threads pick tasks up concurrently, and forwards and drained
dead-node queues can deliver them out of order, so the owning node puts each verb in its
*lane* (connection, session) and runs a lane's verbs one at a time, in ``seq`` order:

- a verb that arrives before its predecessor is parked; no thread waits for it. The thread
  that runs the predecessor runs it next.
- a predecessor that never arrives (it expired in the queue, it was lost with a dead
  node) holds its lane at most ``gap_wait`` seconds; then the lane runs what it has. One
  that turns up after that runs as soon as the lane is free, rather than not at all.
- a verb whose turn comes after its deadline is dropped by the runner at once, which
  frees its place in the lane.

Pure threading: no Redis, no loop. ``start`` and ``done`` let the manager keep each lane's
position in Redis, so a node taking a connection over resumes each lane where it was.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Lanes", "LaneKey", "MAX_GAP_WAIT"]

log = logging.getLogger("sockethub.order")

LaneKey = tuple[str, str]  # (connection key, session id)
MAX_GAP_WAIT = 60.0  # cap of SOCKETHUB_ORDER_GAP_WAIT: a lost verb must not stall a lane long


@dataclass
class _Lane:
    next: int | None  # the seq due next; None: unknown, run whatever comes first
    parked: list[tuple[int, int, Callable[[], None]]] = field(default_factory=list)
    running: bool = False
    armed: int = 0  # token of the pending gap timer; 0: none
    done: int = 0  # highest seq run
    used: float = field(default_factory=time.monotonic)

    def runnable(self) -> bool:
        return bool(self.parked) and (self.next is None or self.parked[0][0] <= self.next)


class Lanes:
    def __init__(
        self,
        gap_wait: float,
        start: Callable[[LaneKey], int | None] = lambda _key: None,
        done: Callable[[LaneKey, int], None] = lambda _key, _seq: None,
    ):
        """``start(key)``: the seq a new lane expects first (None: unknown); ``done(key,
        seq)``: called after each verb, with the highest seq the lane has run."""
        self.gap_wait = min(max(0.0, gap_wait), MAX_GAP_WAIT)
        self._start = start
        self._done = done
        self._lanes: dict[LaneKey, _Lane] = {}
        self._lock = threading.Lock()
        self._order = itertools.count()  # ties: two verbs with one seq run as they came
        self._tokens = itertools.count(1)

    def submit(self, key: LaneKey, seq: int, run: Callable[[], None]) -> None:
        """Run ``run`` in ``key``'s order: now, on this thread, if it is due (then also
        whatever it unblocks), else later on whichever thread unblocks it."""
        first: int | None = None
        fetched = False
        while True:
            with self._lock:
                lane = self._lanes.get(key)
                if lane is None and fetched:
                    lane = self._lanes[key] = _Lane(first)
                if lane is not None:
                    lane.used = time.monotonic()
                    heapq.heappush(lane.parked, (seq, next(self._order), run))
                    if lane.running:
                        return
                    if not lane.runnable():
                        self._arm(key, lane)
                        return
                    lane.running = True
                    break
            first, fetched = self._start(key), True  # Redis: never under the lock
        self._drain(key, lane)

    def _drain(self, key: LaneKey, lane: _Lane) -> None:
        while True:
            with self._lock:
                if not lane.runnable():
                    lane.running = False
                    if lane.parked:
                        self._arm(key, lane)
                    return
                seq, _, run = heapq.heappop(lane.parked)
                lane.armed = 0  # progress: a gap, if any, is timed afresh
                lane.next = max(lane.next or 0, seq + 1)
                lane.done = max(lane.done, seq)
                done = lane.done
            try:
                run()
            except Exception:
                log.exception("verb %s of lane %s raised", seq, key[0][:8])
            try:
                self._done(key, done)
            except Exception:
                log.warning("could not record the order of lane %s", key[0][:8], exc_info=True)

    def _arm(self, key: LaneKey, lane: _Lane) -> None:
        """The lane waits for a verb that has not come: give it ``gap_wait`` seconds.
        Called with the lock held; a timer already running for this gap is kept."""
        if lane.armed:
            return
        lane.armed = token = next(self._tokens)
        timer = threading.Timer(self.gap_wait, self._gap, (key, lane, token))
        timer.daemon = True
        timer.name = "sockethub-order-gap"
        timer.start()

    def _gap(self, key: LaneKey, lane: _Lane, token: int) -> None:
        with self._lock:
            if lane.armed != token or lane.running or not lane.parked:
                return
            lane.armed = 0
            missing = (lane.next, lane.parked[0][0] - 1)
            lane.next = lane.parked[0][0]
            lane.running = True
        log.warning(
            "lane %s: verbs %s..%s did not arrive within %.1f s; running the %d after them",
            key[0][:8],
            *missing,
            self.gap_wait,
            len(lane.parked),
        )
        self._drain(key, lane)

    def drop(self, connection: str, session: str | None = None) -> None:
        """Forget the idle lanes of a closed connection (or of one session that left
        it). A lane with verbs still in it stays until they have run."""
        with self._lock:
            for key in [k for k in self._lanes if k[0] == connection]:
                if session is None or key[1] == session:
                    lane = self._lanes[key]
                    if not lane.running and not lane.parked:
                        del self._lanes[key]

    def prune(self, idle: float) -> None:
        """Forget lanes idle for ``idle`` seconds (their position is kept in Redis)."""
        cutoff = time.monotonic() - idle
        with self._lock:
            for key in [k for k, v in self._lanes.items() if v.used < cutoff]:
                lane = self._lanes[key]
                if not lane.running and not lane.parked:
                    del self._lanes[key]

    def __len__(self) -> int:
        with self._lock:
            return len(self._lanes)
