"""Persistent connections in a worker process: the loop, the leases, failover.

One ``Manager`` per persistent platform per worker process. Every upstream connection is
a ``Supervisor`` task on the process's loop that connects, reconnects with backoff and
rejoins rooms. Ownership is a Redis lease naming this node's direct queue, renewed by a
heartbeat thread; the gateway routes later verbs to that queue. When a node dies its
leases lapse, and the janitor of any surviving node takes the connections over with the
stored credentials: the browser sees ``reconnecting`` then ``connected``.

The supervisor is ``supervisor.py`` (asyncio only), the Redis record ``records.py``, the
per-session order of verbs ``order.py``, verbs held while a connection is restored and
those a dead owner left ``holding.py`` and ``recovery.py``; events leave the loop through
``publisher.py`` and ``fanout.py``. This module holds ownership and the Runtime.

Nothing here runs Redis on the loop: events are queued (``fanout``), and a verb's reply
waits (``settle``) until the events it caused are written, so a browser sees them first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from connectors.base import Job
from connectors.persistent import ConnectionSpec, PersistentConnector, Runtime, Upstream
from envelopes.errors import NotConnected, Reconnecting, SockethubError, UpstreamTimeout
from envelopes.outbox import Outbox
from envelopes.registry import Platform
from envelopes.vault import Vault
from envelopes.workermetrics import WorkerStats

from .attention import Attention
from .fanout import QUEUE_BYTES_CAP, QUEUE_MAX_CAP, Fanout
from .fence import fence_watch
from .governor import Governor, Limits
from .heartbeat import ENDS_GAP, Ends, adopt_orphans, heartbeat
from .history import answer_query
from .holding import Holding
from .leases import LEASE_MS, Leases, lease_seconds
from .logpages import stamp
from .loop import LoopThread
from .order import LaneKey, Lanes
from .ownlog import OwnLog, bounds_from
from .publisher import RETRYABLE, Publisher
from .records import Records
from .supervisor import Supervisor

__all__ = [
    "Manager",
    "Forward",
    "StartedElsewhere",
    "Supervisor",
    "LEASE_MS",
    "HEARTBEAT",
    "REPLY_MARGIN",
]

log = logging.getLogger("sockethub.manager")

HEARTBEAT = 5.0  # a third of the default lease; ``Manager.heartbeat_s`` follows the setting
# A verb waiting for its connection to be restored gives up this long before its deadline,
# so that its answer (``reconnecting``), not the sweeper's bare ``timeout``, reaches the
# browser.
REPLY_MARGIN = 1.0
FORGET_TRIES = 6  # about 20 s of retries
LANE_IDLE = 600.0  # an idle lane is forgotten after this long (its position stays in Redis)


class Forward(Exception):
    """The connection is held by another live node: send the task to its queue."""

    def __init__(self, queue: str):
        super().__init__(queue)
        self.queue = queue


class StartedElsewhere(Exception):
    """Another copy of this verb has gone upstream (or it was answered): this one sends
    nothing and answers nothing."""


class Manager(Runtime):
    def __init__(
        self,
        platform: Platform,
        connector: PersistentConnector,
        redis: Any,
        outbox: Outbox,
        vault: Vault,
        node_queue: str,
    ):
        self.platform = platform
        self.stats = WorkerStats()  # the runner's, once it built us (the twin until then)
        self.connector = connector
        self.redis = redis
        self.outbox = outbox
        self.vault = vault
        self.queue = node_queue
        self.records = Records(platform.name, redis, vault, outbox.sealer)
        # Lanes held while their connection is restored run on its threads once it is
        # back, not on Celery's task threads (those return as soon as a verb is held).
        self.holding = Holding(self, connector.settings.lane_threads)
        self.lanes = Lanes(
            connector.settings.order_gap_wait,
            start=lambda lane: self.records.order(*lane),
            done=lambda lane, seq: self.records.ran(lane[0], lane[1], seq),
            gate=self.holding.gate,
            resume=self.holding.resume,
            margin=REPLY_MARGIN,
        )
        settings = connector.settings
        self.attention = Attention.build(platform.name, settings, redis, outbox, self.identity)
        self.ownlog = OwnLog(platform.name, redis, outbox.sealer, bounds_from(settings))
        self._fanout = Fanout(
            platform.name, redis, self.records, outbox, self.attention, self.ownlog
        )
        self.publisher = Publisher(
            self._fanout.deliver,
            self._fanout.gap,
            max_events=min(settings.event_queue_max, QUEUE_MAX_CAP),
            max_bytes=min(settings.event_queue_bytes, QUEUE_BYTES_CAP),
            name=f"sockethub-{platform.name}-publisher",
        )
        self.loop = LoopThread(f"sockethub-{platform.name}-loop")
        self.sups: dict[str, Supervisor] = {}
        self._lock = threading.Lock()  # guards ``sups``; never held across a loop call
        self._starting: dict[str, concurrent.futures.Future[Supervisor]] = {}
        lease = lease_seconds(settings.lease_seconds)
        self.heartbeat_s = lease / 3
        # Without a renewal for this long (cut off from Redis), this node stops acting as
        # the owner of its connections: they are closed before another node may claim them
        # (a lease lapses a full ``lease`` after the last renewal began). The margin covers
        # the close and the watchdog's period; the rest tolerates a stalled Redis.
        self.fence_s = lease - max(2.0, lease / 5)
        self.leases = Leases(platform.name, redis, node_queue, int(lease * 1000))
        # Connects per upstream server, fleet-wide; slots last as long as leases.
        self.governor = Governor(redis, Limits.from_settings(settings), int(lease * 1000))
        self.renewed_at = time.monotonic()
        self._fenced: set[str] = set()  # closed by the fence; released once Redis is back
        self._stop = threading.Event()
        self._ends = Ends(redis, self._stop)  # a session ended: the janitor looks at once
        self.leases.alive()
        connector.bind(self)
        self.loop.submit(fence_watch(self))
        threading.Thread(target=self._background, name="sockethub-janitor", daemon=True).start()

    # -- ordering, called by the runner before a verb runs ----------------------------------
    def admit(self, key: str) -> None:
        """Before a verb joins its lane here: raise ``Forward`` if a live node owns the
        connection, since lanes live at the owner only. A recorded connection whose owner
        is gone is taken over now, before the verb joins its lane, so the verbs the dead
        owner held are back in their lanes first (``Holding.recover``)."""
        if self.local(key) is not None:
            return
        owner = self.leases.owner(key)
        if owner is not None and owner != self.queue and self.leases.node_alive(owner):
            raise Forward(owner)
        if self.records.exists(key):
            try:
                self.adopt(key)
            except SockethubError:
                pass  # the verb finds out at its turn (e.g. no session left)

    def in_order(
        self,
        lane: LaneKey,
        seq: int,
        run: Callable[[], None],
        deadline: float = math.inf,
        expire: Callable[[], None] | None = None,
        gated: bool = True,
    ) -> None:
        self.lanes.submit(lane, seq, run, deadline, expire, gated=gated)

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # -- Runtime, called from task threads -------------------------------------------------
    def connect(self, job: Job, spec: ConnectionSpec) -> Upstream:
        key = spec.key
        sup = self.local(key)
        if sup is None:
            self._started(job)  # a new connection: the connect goes to the network
            self._take(key)
            self.records.create(key, spec.actor, self.queue)
        # Join the session first, so it hears the connection's first state events too.
        self._add_session(key, job)
        if sup is None:
            sup = self._start(spec, takeover=False)
            try:
                return self.loop.call(sup.wait_up(), job.remaining, f"{self.platform.name} connect")
            finally:
                self._settle(key, job)
        return self._wait_up(sup, job)

    def upstream(self, job: Job) -> Upstream:
        key = job.connection
        sup = self.local(key) if key else None
        if sup is None:
            if not key or not self.records.exists(key):
                raise NotConnected(
                    f"not connected to {self.platform.name} as {job.activity['actor']['id']}; "
                    "send connect first"
                )
            sup = self.adopt(key)
        self._add_session(key, job)
        return self._wait_up(sup, job)

    def _wait_up(self, sup: Supervisor, job: Job) -> Upstream:
        """The live upstream, once connected and its rooms rejoined; a verb whose deadline
        comes first fails saying the connection was being restored (and was not sent)."""
        name = self.platform.name
        try:
            up = self.loop.call(sup.wait_up(), job.remaining - REPLY_MARGIN, f"{name} connection")
            self._settle(sup.spec.key, job)
            return up
        except UpstreamTimeout:
            if sup.ready.is_set():
                raise
            why = f" ({sup.restoring})" if sup.restoring else ""
            raise Reconnecting(
                f"the {name} connection was being restored{why} until the request's deadline; "
                "it was not sent: send it again once the connection is back"
            ) from None

    def call(self, job: Job, coro: Any) -> Any:
        try:
            self._started(job)
        except StartedElsewhere:
            coro.close()
            raise
        try:
            return self.loop.call(coro, job.remaining, f"{self.platform.name} server")
        finally:
            self._settle(job.connection, job)

    def _started(self, job: Job) -> None:
        """Just before this verb first goes to the network: its marker becomes ``r``, so
        no other copy of it ever sends it (``envelopes.markers``)."""
        if job.started or not job.request:
            return
        if not self.outbox.markers.start(job.session, job.request):
            raise StartedElsewhere(job.request)
        job.started = True

    def _settle(self, key: str, job: Job) -> None:
        """The connection's events queued so far are written before this verb's reply
        (bounded by its deadline: with Redis down the reply could not be written either)."""
        self.publisher.settle(key, job.remaining - REPLY_MARGIN)

    def disconnect(self, job: Job) -> None:
        key = job.connection
        if not key:
            return
        self.records.leave(key, job.session)
        self._fanout.changed(key)
        self.lanes.drop(key, job.session)
        if self.records.members(key):
            return  # others still use it
        sup = self.local(key)
        if sup is None:
            owner = self.leases.owner(key)
            if owner and owner != self.queue and self.leases.node_alive(owner):
                raise Forward(owner)
            self._drop_record(key)
            return
        self.loop.call(self._close(sup, "disconnect requested"), 10, "disconnect")

    def remember_room(self, job: Job, room: str, joined: bool) -> None:
        self.records.remember_room(job.connection, job.session, room, joined)

    def log_query(self, job: Job) -> dict[str, Any]:
        return answer_query(self, job)  # tasks/history.py

    # -- fan-out ---------------------------------------------------------------------------
    def fanout(self, key: str, activity: dict[str, Any]) -> None:
        """Called on the loop: only queues (``tasks/publisher.py`` writes it). A message
        gets its id and time here (``stamp``), the same live and in history."""
        self.publisher.emit(key, stamp(activity))

    def rooms(self, key: str) -> list[str]:
        return self.records.rooms(key)

    # -- ownership -------------------------------------------------------------------------
    def held_count(self) -> int:
        """Connections held here now (the stats beat's gauge)."""
        with self._lock:
            return len(self.sups)

    def local(self, key: str) -> Supervisor | None:
        with self._lock:
            return self.sups.get(key)

    def identity(self, key: str) -> tuple[str, str] | None:
        """Our own person on a connection held here (id, nick), for ``tasks/attention``;
        any thread (it reads two attributes, no loop call)."""
        sup = self.local(key)
        up = sup.up if sup is not None else None
        return up.identity() if up is not None else None

    def adopt(self, key: str) -> Supervisor:
        """Take over a recorded connection whose owner is gone, and what it held."""
        self._take(key)
        try:
            spec = self.records.spec(key, self.queue)
        except SockethubError:
            self.leases.release(key)
            raise
        return self._start(spec, takeover=True)

    def _take(self, key: str) -> None:
        """Claim the lease, or raise ``Forward`` to its live owner."""
        seen = self.leases.owner(key)
        if seen is not None and seen != self.queue and self.leases.node_alive(seen):
            raise Forward(seen)
        got = self.leases.claim(key, seen)
        if got != self.queue:
            raise Forward(got)
        # Verbs the gateway routed to the previous owner wait in its direct queue.
        previous = self.records.owner(key)
        for queue in {q for q in (seen, previous) if q is not None}:
            if queue != self.queue and not self.leases.node_alive(queue):
                self.leases.drain(queue, self.platform.queue)

    def _add_session(self, key: str, job: Job) -> None:
        self.records.join(key, job.session, str(job.activity["actor"]["id"]))
        self._fanout.changed(key)  # it hears the very next event

    def _drop_record(self, key: str) -> None:
        self.records.drop(key)
        self.ownlog.forget(key)
        self.leases.release(key)

    def _start(self, spec: ConnectionSpec, takeover: bool) -> Supervisor:
        async def make() -> Supervisor:
            sup = Supervisor(self, spec, takeover)
            # Known before its task can run: a connect that fails at once forgets it (from
            # another thread), and must find it here, or a dead supervisor would stay.
            with self._lock:  # held only for the dict: never across a wait
                self.sups[spec.key] = sup
            sup.task = asyncio.get_running_loop().create_task(sup.run())
            return sup

        key = spec.key
        with self._lock:
            existing = self.sups.get(key)
            if existing is not None:
                return existing
            pending = self._starting.get(key)
            mine = pending is None
            if pending is None:
                pending = self._starting[key] = concurrent.futures.Future()
        if not mine:  # another thread is starting it: share that one
            return pending.result(timeout=10)
        try:
            sup = self.loop.call(make(), 5, "loop")  # not under the lock
        except BaseException as exc:
            with self._lock:
                self._starting.pop(key, None)
            pending.set_exception(exc)
            raise
        with self._lock:
            self._starting.pop(key, None)
        pending.set_result(sup)
        log.info(
            "%s connection %s started (%s)",
            self.platform.name,
            key[:8],
            "takeover" if takeover else "new",
        )
        if takeover:  # once, by the thread that started it
            self.stats.inc("sockethub_worker_takeovers_total", self.platform.name)
            try:
                self.holding.recover(key)
            except Exception:
                log.exception("putting back the verbs of %s failed", key[:8])
        return sup

    async def forget(self, key: str, sup: Supervisor) -> None:
        """A connection that will not come back: drop it everywhere. Redis failing is
        retried for a while: a record left behind would be adopted and reconnected."""
        for attempt in range(FORGET_TRIES):
            try:
                await asyncio.to_thread(self._forget, key, sup)  # Redis: off the loop
                return
            except RETRYABLE as exc:
                log.warning("dropping the record of %s failed (%s); retrying", key[:8], exc)
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))
        log.error("could not drop the record of %s connection %s", self.platform.name, key[:8])

    def _forget(self, key: str, sup: Supervisor | None) -> None:
        with self._lock:
            if self.sups.get(key) is sup:
                del self.sups[key]
        self.holding.notify(key)  # held verbs run now, and fail saying it is gone
        self.lanes.drop(key)
        # Its last events (``disconnected``) go to its sessions before the record that
        # names them is dropped.
        self.publisher.settle(key, 5)
        self._drop_record(key)

    async def _close(self, sup: Supervisor, reason: str) -> None:
        await sup.stop(reason)
        await self.forget(sup.spec.key, sup)

    # -- heartbeat and janitor ---------------------------------------------------------------
    def _background(self) -> None:
        """The heartbeat every ``heartbeat_s``, or at once when a session was ended; in
        between, wait for connections a stopping node hands over, and take each at once."""
        beat = time.monotonic() + self.heartbeat_s
        while not self._stop.is_set():
            left = beat - time.monotonic()
            if left > 0 and not self._ends.woken.is_set():
                self._take_handed(min(left, ENDS_GAP))
                continue
            self._ends.woken.clear()
            beat = time.monotonic() + self.heartbeat_s
            try:
                self._heartbeat()
                self._janitor()
                self.lanes.prune(LANE_IDLE)
            except Exception:
                log.exception("heartbeat failed")

    def _take_handed(self, wait: float) -> None:
        try:
            key = self.leases.handed(wait)
        except RETRYABLE:
            self._stop.wait(wait)  # Redis is away: the heartbeat says so
            return
        if key is None:
            return
        if self._stop.is_set():  # stopping too: leave it to another node
            self.leases.hand_back(key)
            return
        if self.local(key) is not None or self.leases.held(key):
            return
        try:
            self.adopt(key)
            log.info("took over %s connection %s handed over", self.platform.name, key[:8])
        except (Forward, SockethubError):
            pass
        except Exception:
            log.exception("taking over %s failed", key[:8])

    def renewed(self, started: float) -> None:
        """The heartbeat that began at ``started`` renewed everything: Redis is with us.
        What the fence closed meanwhile is released, for any node to take."""
        self.renewed_at = started
        if self._fenced:
            fenced, self._fenced = self._fenced, set()
            for key in fenced:
                if self.local(key) is None:
                    self.leases.release(key)
            self.leases.hand_over(sorted(fenced))

    def _heartbeat(self) -> None:
        heartbeat(self)

    def _janitor(self) -> None:
        adopt_orphans(self)

    def close(self) -> None:
        """Clean shutdown: leave politely everywhere, then let others take over."""
        self._ends.stop()  # and wakes the janitor's wait
        self.attention.close()
        with self._lock:
            held = list(self.sups.values())
            self.sups.clear()

        async def stop_all() -> None:
            await asyncio.gather(
                # Not "disconnected": another node takes each over at once, or this
                # one when it is back (``hand_over`` below).
                *(s.stop("worker shutting down", announce="reconnecting") for s in held),
                return_exceptions=True,
            )

        try:
            self.loop.call(stop_all(), 10, "shutdown")
        except Exception:
            log.exception("shutdown of %s connections failed", self.platform.name)
        self.holding.close()
        self.publisher.close(5)  # their ``disconnected`` events, and what waited
        for sup in held:
            self.leases.release(sup.spec.key)
        self.leases.gone()
        try:  # another node takes each at once (a rolling deploy), not at its janitor
            self.leases.hand_over([sup.spec.key for sup in held])
        except RETRYABLE:
            log.warning("could not hand over %d connection(s): their leases lapse", len(held))
        self.loop.stop()
