"""One session's verbs on one upstream connection run in the order the gateway accepted them.

The gateway numbers them (``seq`` in the task payload, counted per session and
connection). Celery's threads pick tasks up concurrently, and forwards and drained
dead-node queues can deliver them out of order, so the owning node puts each verb in its
*lane* (connection, session) and runs a lane's verbs one at a time, in ``seq`` order:

- a verb that arrives before its predecessor is parked; no thread waits for it. The thread
  that runs the predecessor runs it next.
- a verb whose connection is not up (reconnecting, being taken over) is held in its lane
  and its thread returns: the lane asks ``gate`` before each verb, and ``gate`` calls the
  lane's wake-up once the connection is back (or given up); the lane then runs on a
  thread of ``resume``. A held verb whose deadline comes first is answered by its
  ``expire`` ``margin`` seconds before it (``reconnecting``), so its reply, not a bare
  ``timeout``, reaches the browser; the same if it is still waiting then in the backlog
  its lane works through after the wake-up. Its place in the lane is kept, so nothing
  after it waits for it.
- a predecessor that never arrives (it expired in the queue) holds its lane at most
  ``gap_wait`` seconds; then the lane runs what it has. One that turns up after that runs
  as soon as the lane is free, rather than not at all. (Verbs a dead owner had taken off
  Redis do not leave a gap: the node taking over puts them back, ``tasks/recovery.py``.)
- a verb whose turn comes after its deadline is dropped by the runner at once, which
  frees its place in the lane.

Pure threading: no Redis, no loop. ``start`` and ``done`` let the manager keep each lane's
position in Redis, so a node taking a connection over resumes each lane where it was.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

__all__ = ["Lanes", "LaneKey", "Gate", "MAX_GAP_WAIT"]

log = logging.getLogger("sockethub.order")

LaneKey = tuple[str, str]  # (connection key, session id)
# gate(connection, wake) → True: run now; False: held, and ``wake()`` will be called once.
Gate = Callable[[str, Callable[[], None]], bool]
MAX_GAP_WAIT = 60.0  # cap of SOCKETHUB_ORDER_GAP_WAIT: a lost verb must not stall a lane long


@dataclass
class _Verb:
    run: Callable[[], None]
    deadline: float = math.inf  # epoch seconds
    expire: Callable[[], None] | None = None
    answered: bool = False  # expired while held: skipped at its turn
    held: bool = False  # held by its connection: answered, not dropped, if its turn is late
    gated: bool = True  # needs its connection up (``disconnect`` does not)


class _Ticket:
    """One hold of a lane: a wake-up that comes before the hold is in place still counts."""

    woken = False


@dataclass
class _Lane:
    next: int | None  # the seq due next; None: unknown, run whatever comes first
    parked: list[tuple[int, int, _Verb]] = field(default_factory=list)
    running: bool = False
    held: _Ticket | None = None  # waiting for its connection; its wake-up is with the gate
    armed: int = 0  # token of the pending gap timer; 0: none
    expiry: int = 0  # token of the pending expiry timer of its held verbs; 0: none
    expiry_at: float = math.inf
    done: int = 0  # highest seq run
    used: float = field(default_factory=time.monotonic)

    def runnable(self) -> bool:
        return bool(self.parked) and (self.next is None or self.parked[0][0] <= self.next)


def _always(_connection: str, _wake: Callable[[], None]) -> bool:
    return True


def _thread(fn: Callable[[], None]) -> None:
    threading.Thread(target=fn, name="sockethub-lane", daemon=True).start()


class Lanes:
    def __init__(
        self,
        gap_wait: float,
        start: Callable[[LaneKey], int | None] = lambda _key: None,
        done: Callable[[LaneKey, int], None] = lambda _key, _seq: None,
        gate: Gate = _always,
        resume: Callable[[Callable[[], None]], None] = _thread,
        margin: float = 1.0,
    ):
        """``start(key)``: the seq a new lane expects first (None: unknown); ``done(key,
        seq)``: called after each verb, with the highest seq the lane has run; ``gate``:
        whether the connection can take a verb now; ``resume(fn)``: run ``fn`` on some
        other thread (a lane woken up, or one a non-inline submit made runnable)."""
        self.gap_wait = min(max(0.0, gap_wait), MAX_GAP_WAIT)
        self.margin = margin
        self._start = start
        self._done = done
        self._gate = gate
        self._resume = resume
        self._lanes: dict[LaneKey, _Lane] = {}
        self._lock = threading.Lock()
        self._order = itertools.count()  # ties: two verbs with one seq run as they came
        self._tokens = itertools.count(1)

    def submit(
        self,
        key: LaneKey,
        seq: int,
        run: Callable[[], None],
        deadline: float = math.inf,
        expire: Callable[[], None] | None = None,
        inline: bool = True,
        gated: bool = True,
    ) -> None:
        """Run ``run`` in ``key``'s order: now, on this thread, if it is due (then also
        whatever it unblocks), else later on whichever thread unblocks it. ``inline=False``:
        never on this thread. ``expire``: answers the verb if it is held by its connection
        until ``margin`` seconds before ``deadline``. ``gated=False``: the verb needs no
        connection up (it still runs in its turn)."""
        verb = _Verb(run, deadline, expire, gated=gated)
        first: int | None = None
        fetched = False
        while True:
            with self._lock:
                lane = self._lanes.get(key)
                if lane is None and fetched:
                    lane = self._lanes[key] = _Lane(first)
                if lane is not None:
                    lane.used = time.monotonic()
                    heapq.heappush(lane.parked, (seq, next(self._order), verb))
                    if lane.held:
                        verb.held = True
                        self._arm_expiry(key, lane)
                        return
                    if lane.running:
                        return
                    if not lane.runnable():
                        self._arm(key, lane)
                        return
                    lane.running = True
                    break
            first, fetched = self._start(key), True  # Redis: never under the lock
        if inline:
            self._drain(key, lane)
        else:
            self._resume(lambda: self._drain(key, lane))

    def _drain(self, key: LaneKey, lane: _Lane) -> None:
        while True:
            with self._lock:
                if not lane.runnable():
                    lane.running = False
                    if lane.parked:
                        self._arm(key, lane)
                    return
                head = lane.parked[0][2]
                ask = head.gated and not head.answered
            ticket = _Ticket()
            if ask and not self._gate(key[0], partial(self._wake, key, lane, ticket)):
                with self._lock:
                    if not ticket.woken:  # its thread returns; the wake-up runs the lane
                        lane.running = False
                        lane.held = ticket
                        for _, _, waiting in lane.parked:
                            waiting.held = True
                        self._arm_expiry(key, lane)
                        return
                continue  # woken already: ask again
            with self._lock:
                seq, _, verb = heapq.heappop(lane.parked)
                lane.armed = 0  # progress: a gap, if any, is timed afresh
                lane.next = max(lane.next or 0, seq + 1)
                lane.done = max(lane.done, seq)
                done = lane.done
                run = not verb.answered
            if run:
                try:
                    verb.run()
                except Exception:
                    log.exception("verb %s of lane %s raised", seq, key[0][:8])
            try:
                self._done(key, done)
            except Exception:
                log.warning("could not record the order of lane %s", key[0][:8], exc_info=True)

    def _wake(self, key: LaneKey, lane: _Lane, ticket: _Ticket) -> None:
        """The gate's wake-up: the connection is back (or given up). Any thread, the loop's
        included: it only hands the lane to ``resume``."""
        with self._lock:
            ticket.woken = True
            if lane.held is not ticket:
                return
            lane.held = None  # its held verbs' expiry stays armed: the backlog takes time
            if lane.running:
                return
            lane.running = True
        self._resume(lambda: self._drain(key, lane))

    def _arm_expiry(self, key: LaneKey, lane: _Lane) -> None:
        """A verb held by its connection is answered ``margin`` s before its deadline if
        it is still waiting then (held, or in the backlog after the wake-up). Lock held."""
        due = min(
            (v.deadline for _, _, v in lane.parked if v.held and not v.answered),
            default=math.inf,
        )
        at = due - self.margin
        if at == math.inf or at >= lane.expiry_at:
            return
        lane.expiry, lane.expiry_at = next(self._tokens), at
        timer = threading.Timer(max(0.0, at - time.time()), self._expire, (key, lane, lane.expiry))
        timer.daemon = True
        timer.name = "sockethub-order-expiry"
        timer.start()

    def _expire(self, key: LaneKey, lane: _Lane, token: int) -> None:
        with self._lock:
            if lane.expiry != token:
                return
            lane.expiry, lane.expiry_at = 0, math.inf
            cutoff = time.time() + self.margin + 0.05
            due = [
                v for _, _, v in lane.parked if v.held and not v.answered and v.deadline <= cutoff
            ]
            for verb in due:
                verb.answered = True
            self._arm_expiry(key, lane)
        for verb in due:
            if verb.expire is not None:
                try:
                    verb.expire()
                except Exception:
                    log.warning("answering a held verb of %s failed", key[0][:8], exc_info=True)

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
            if lane.armed != token:
                return
            lane.armed = 0
            if lane.running or lane.held or not lane.parked:
                return  # whoever runs it next times a gap afresh
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
