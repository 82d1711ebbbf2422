"""Persistent connections in a worker process: the loop, the leases, failover.

One ``Manager`` per persistent platform per worker process. Every upstream connection is
a ``Supervisor`` task on the process's loop that connects, reconnects with backoff and
rejoins rooms. Ownership is a Redis lease naming this node's direct queue, renewed by a
heartbeat thread; the gateway routes later verbs to that queue. When a node dies its
leases lapse, and the janitor of any surviving node takes the connections over with the
stored credentials: the browser sees ``reconnecting`` then ``connected``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from connectors.base import Job
from connectors.persistent import ConnectionSpec, PersistentConnector, Runtime, Upstream
from envelopes import keys
from envelopes.errors import (
    NotConnected,
    PermanentError,
    SockethubError,
    UpstreamTimeout,
    UpstreamUnavailable,
    internal_error,
    os_reason,
)
from envelopes.outbox import Outbox
from envelopes.registry import Platform
from envelopes.vault import Vault

from .loop import LoopThread

__all__ = ["Manager", "Forward", "LEASE_MS", "HEARTBEAT"]

log = logging.getLogger("sockethub.manager")

LEASE_MS = 15_000
HEARTBEAT = 5.0

# Take a lease if it is free or still names the (dead) owner we saw.
_CLAIM = """
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[2] and cur ~= ARGV[1] then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return ARGV[1]
"""
# Renew only what is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _connect_error(exc: Exception, timeout: float, key: str) -> SockethubError:
    """What a browser may read of a failed connect: ours, the OS's words, or a reference."""
    if isinstance(exc, SockethubError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"could not connect within {timeout:g} s")
    if isinstance(exc, OSError):
        return UpstreamUnavailable(f"could not connect: {os_reason(exc)}")
    return internal_error(log, f"connecting {key} raised", exc)


class Forward(Exception):
    """The connection is held by another live node: send the task to its queue."""

    def __init__(self, queue: str):
        super().__init__(queue)
        self.queue = queue


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Supervisor:
    """Keeps one upstream connected. Lives on the loop."""

    def __init__(self, manager: Manager, spec: ConnectionSpec, takeover: bool):
        self.manager = manager
        self.spec = spec
        self.takeover = takeover
        self.up: Upstream | None = None
        self.ready = asyncio.Event()
        self.first: asyncio.Future[Upstream] = asyncio.get_running_loop().create_future()
        self.closing = False
        self.task: asyncio.Task[None] | None = None

    def emit(self, activity: dict[str, Any]) -> None:
        self.manager.fanout(self.spec.key, activity)

    def announce(self, state: str, **fields: Any) -> None:
        up = self.up or self.manager.connector.new_upstream(self.spec, self.emit)
        event = up.state_event(state, **fields)
        if event is not None:
            self.emit(event)

    async def wait_up(self) -> Upstream:
        await asyncio.shield(self.first)  # raises the first connect's error, if any
        await self.ready.wait()
        assert self.up is not None
        return self.up

    def _fail_first(self, exc: BaseException) -> None:
        if not self.first.done():
            self.first.set_exception(exc)
            self.first.exception()  # mark retrieved: a failed connect is reported, not logged

    async def run(self) -> None:
        connector = self.manager.connector
        attempt = 0
        if self.takeover:
            attempt = 1
            self.announce("reconnecting", attempt=1, delay=0, reason="worker node lost")
        while not self.closing:
            up = connector.new_upstream(self.spec, self.emit)
            self.up = up
            self.announce("connecting", attempt=attempt)
            try:
                await asyncio.wait_for(up.connect(), connector.connect_timeout)
            except asyncio.CancelledError:
                raise
            except PermanentError as exc:
                self.announce("disconnected", reason=exc.message)
                self._fail_first(exc)
                await self.manager.forget(self.spec.key, self)
                return
            except Exception as exc:
                err = _connect_error(exc, connector.connect_timeout, self.spec.key)
                if not self.takeover and not self.first.done():
                    # Someone is waiting for this connect: tell them now, retry nothing.
                    self.announce("disconnected", reason=err.message)
                    self._fail_first(err)
                    await self.manager.forget(self.spec.key, self)
                    return
                reason = err.message
            else:
                self.ready.set()
                if not self.first.done():
                    self.first.set_result(up)
                self.announce("connected")
                if attempt or self.takeover:
                    rooms = await asyncio.to_thread(self.manager.rooms, self.spec.key)
                    await up.restore(rooms)
                attempt = 0
                try:
                    reason = await up.wait_closed()
                except PermanentError as exc:
                    # The upstream says coming back would be wrong (e.g. another client took
                    # our XMPP resource): no reconnect loop.
                    self.ready.clear()
                    self.announce("disconnected", reason=exc.message)
                    await self.manager.forget(self.spec.key, self)
                    return
                self.ready.clear()
                if self.closing:
                    break
            attempt += 1
            delay = connector.backoff.delay(attempt)
            self.announce("reconnecting", attempt=attempt, delay=delay, reason=reason)
            await asyncio.sleep(delay)

    async def stop(self, reason: str) -> None:
        self.closing = True
        if self.up is not None:
            try:
                await asyncio.wait_for(self.up.close(reason), 5)
            except Exception:
                log.debug("close of %s failed", self.spec.key, exc_info=True)
        if self.task is not None and self.task is not asyncio.current_task():
            self.task.cancel()
        self._fail_first(NotConnected("connection closed"))
        self.announce("disconnected", reason=reason)


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
        self.connector = connector
        self.redis = redis
        self.outbox = outbox
        self.vault = vault
        self.queue = node_queue
        self.loop = LoopThread(f"sockethub-{platform.name}-loop")
        self.sups: dict[str, Supervisor] = {}
        self._lock = threading.Lock()
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._stop = threading.Event()
        self._alive()
        connector.bind(self)
        threading.Thread(target=self._background, name="sockethub-janitor", daemon=True).start()

    # -- Runtime, called from task threads -------------------------------------------------
    def connect(self, job: Job, spec: ConnectionSpec) -> Upstream:
        key = spec.key
        sup = self._local(key)
        if sup is None:
            self._take(key)
            self._record(spec)
        # Join the session first, so it hears the connection's first state events too.
        self._add_session(key, job)
        if sup is None:
            sup = self._start(spec, takeover=False)
        return self.loop.call(sup.wait_up(), job.remaining, f"{self.platform.name} connect")

    def upstream(self, job: Job) -> Upstream:
        key = job.connection
        sup = self._local(key) if key else None
        if sup is None:
            if not key or not self.redis.exists(keys.connection(self.platform.name, key)):
                raise NotConnected(
                    f"not connected to {self.platform.name} as {job.activity['actor']['id']}; "
                    "send connect first"
                )
            self._take(key)
            sup = self._start(self._spec_from_record(key), takeover=True)
        self._add_session(key, job)
        return self.loop.call(sup.wait_up(), job.remaining, f"{self.platform.name} connection")

    def call(self, job: Job, coro: Any) -> Any:
        return self.loop.call(coro, job.remaining, f"{self.platform.name} server")

    def disconnect(self, job: Job) -> None:
        key = job.connection
        if not key:
            return
        name = self.platform.name
        self.redis.hdel(keys.connection_sessions(name, key), job.session)
        if self.redis.hlen(keys.connection_sessions(name, key)) > 0:
            return  # others still use it
        sup = self._local(key)
        if sup is None:
            owner = self.redis.get(keys.lease(name, key))
            if owner and _text(owner) != self.queue and self._node_alive(_text(owner)):
                raise Forward(_text(owner))
            self._drop_record(key)
            return
        self.loop.call(self._close(sup, "disconnect requested"), 10, "disconnect")

    def remember_room(self, job: Job, room: str, joined: bool) -> None:
        rooms = keys.connection_rooms(self.platform.name, job.connection)
        if joined:
            self.redis.sadd(rooms, room)
        else:
            self.redis.srem(rooms, room)

    # -- fan-out ---------------------------------------------------------------------------
    def fanout(self, key: str, activity: dict[str, Any]) -> None:
        sessions = self.redis.hkeys(keys.connection_sessions(self.platform.name, key))
        for sid in sessions:
            sid = _text(sid)
            if self.outbox.event(sid, activity) < 0:  # that session has ended
                self.redis.hdel(keys.connection_sessions(self.platform.name, key), sid)

    def rooms(self, key: str) -> list[str]:
        return sorted(
            _text(r) for r in self.redis.smembers(keys.connection_rooms(self.platform.name, key))
        )

    # -- ownership -------------------------------------------------------------------------
    def _local(self, key: str) -> Supervisor | None:
        with self._lock:
            return self.sups.get(key)

    def _node_alive(self, queue: str) -> bool:
        return bool(self.redis.exists(keys.node_alive(queue)))

    def _alive(self) -> None:
        self.redis.set(keys.node_alive(self.queue), "1", px=LEASE_MS)

    def _take(self, key: str) -> None:
        """Claim the lease, or raise ``Forward`` to its live owner."""
        lease = keys.lease(self.platform.name, key)
        seen = self.redis.get(lease)
        if seen is not None and _text(seen) != self.queue and self._node_alive(_text(seen)):
            raise Forward(_text(seen))
        got = _text(self._claim(keys=[lease], args=[self.queue, _text(seen or ""), LEASE_MS]))
        if got != self.queue:
            raise Forward(got)
        # Verbs the gateway routed to the previous owner wait in its direct queue.
        previous = self.redis.hget(keys.connection(self.platform.name, key), "owner")
        for queue in {_text(q) for q in (seen, previous) if q is not None}:
            if queue != self.queue and not self._node_alive(queue):
                self._drain(queue)

    def _drain(self, dead_queue: str) -> None:
        """Move what was sent to a dead node's queue back to the shared one."""
        moved = 0
        while self.redis.lmove(dead_queue, self.platform.queue, "RIGHT", "LEFT") is not None:
            moved += 1
        if moved:
            log.info("moved %d task(s) from dead node queue %s", moved, dead_queue)

    def _record(self, spec: ConnectionSpec) -> None:
        name = self.platform.name
        pipe = self.redis.pipeline()
        pipe.hset(
            keys.connection(name, spec.key),
            mapping={
                "actor": self.outbox.sealer.seal_record(name, spec.key, spec.actor),
                "owner": self.queue,
            },
        )
        pipe.sadd(keys.connections(name), spec.key)
        pipe.execute()

    def _spec_from_record(self, key: str) -> ConnectionSpec:
        name = self.platform.name
        sealed = self.redis.hget(keys.connection(name, key), "actor")
        actor = self.outbox.sealer.open_record(name, key, sealed) if sealed else {}
        for sid, actor_id in self.redis.hgetall(keys.connection_sessions(name, key)).items():
            try:
                creds = self.vault.load(_text(sid), name, _text(actor_id))
            except SockethubError:
                continue
            self.redis.hset(keys.connection(name, key), "owner", self.queue)
            return ConnectionSpec(key=key, actor=actor, credentials=creds, rooms=self.rooms(key))
        self._drop_record(key)
        raise NotConnected(f"the {name} connection has no live session left")

    def _add_session(self, key: str, job: Job) -> None:
        self.redis.hset(
            keys.connection_sessions(self.platform.name, key),
            job.session,
            str(job.activity["actor"]["id"]),
        )

    def _drop_record(self, key: str) -> None:
        name = self.platform.name
        pipe = self.redis.pipeline()
        pipe.delete(
            keys.connection(name, key),
            keys.connection_sessions(name, key),
            keys.connection_rooms(name, key),
        )
        pipe.srem(keys.connections(name), key)
        pipe.execute()
        self._release(keys=[keys.lease(name, key)], args=[self.queue])

    def _start(self, spec: ConnectionSpec, takeover: bool) -> Supervisor:
        async def make() -> Supervisor:
            sup = Supervisor(self, spec, takeover)
            sup.task = asyncio.get_running_loop().create_task(sup.run())
            return sup

        with self._lock:
            existing = self.sups.get(spec.key)
            if existing is not None:
                return existing
            sup = self.loop.call(make(), 5, "loop")
            self.sups[spec.key] = sup
        log.info(
            "%s connection %s started (%s)",
            self.platform.name,
            spec.key[:8],
            "takeover" if takeover else "new",
        )
        return sup

    async def forget(self, key: str, sup: Supervisor) -> None:
        """A connection that will not come back: drop it everywhere."""
        # Off the loop thread: ``_start`` holds the lock while it waits for the loop.
        await asyncio.to_thread(self._forget, key, sup)

    def _forget(self, key: str, sup: Supervisor) -> None:
        with self._lock:
            if self.sups.get(key) is sup:
                del self.sups[key]
        self._drop_record(key)

    async def _close(self, sup: Supervisor, reason: str) -> None:
        await sup.stop(reason)
        await self.forget(sup.spec.key, sup)

    # -- heartbeat and janitor ---------------------------------------------------------------
    def _background(self) -> None:
        while not self._stop.wait(HEARTBEAT):
            try:
                self._heartbeat()
                self._janitor()
            except Exception:
                log.exception("heartbeat failed")

    def _heartbeat(self) -> None:
        self._alive()
        name = self.platform.name
        with self._lock:
            held = list(self.sups.items())
        for key, sup in held:
            if not self._renew(keys=[keys.lease(name, key)], args=[self.queue, LEASE_MS]):
                log.warning("lost the lease of %s connection %s; closing it", name, key[:8])
                with self._lock:
                    self.sups.pop(key, None)
                self.loop.submit(sup.stop("connection moved to another worker"))
                continue
            sessions = self.redis.hkeys(keys.connection_sessions(name, key))
            live = [s for s in sessions if self.redis.exists(keys.session(_text(s)))]
            for gone in set(sessions) - set(live):
                self.redis.hdel(keys.connection_sessions(name, key), gone)
            if not live:
                log.info("%s connection %s has no session left; closing", name, key[:8])
                self.loop.submit(self._close(sup, "no session left"))

    def _janitor(self) -> None:
        name = self.platform.name
        for raw in self.redis.smembers(keys.connections(name)):
            key = _text(raw)
            if self._local(key) is not None or self.redis.exists(keys.lease(name, key)):
                continue
            try:
                self._take(key)
                spec = self._spec_from_record(key)
            except (Forward, SockethubError):
                continue
            self._start(spec, takeover=True)

    def close(self) -> None:
        """Clean shutdown: leave politely everywhere, then let others take over."""
        self._stop.set()
        with self._lock:
            held = list(self.sups.values())
            self.sups.clear()

        async def stop_all() -> None:
            await asyncio.gather(
                *(s.stop("worker shutting down") for s in held), return_exceptions=True
            )

        try:
            self.loop.call(stop_all(), 10, "shutdown")
        except Exception:
            log.exception("shutdown of %s connections failed", self.platform.name)
        for sup in held:
            self._release(keys=[keys.lease(self.platform.name, sup.spec.key)], args=[self.queue])
        self.redis.delete(keys.node_alive(self.queue))
        self.loop.stop()
