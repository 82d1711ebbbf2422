"""Who holds a connection: a Redis lease per connection, naming the owner's direct queue.

The owner renews its leases and its node's liveness key from its heartbeat thread; a
lease that lapses (its node died, or lost Redis for longer than the lease) may be claimed
by any node, which then drains what was routed to the dead owner's queue. A node that stops
cleanly releases its leases and hands each connection over through a list that the other
nodes' janitors wait on, so one of them takes it at once. Called from task threads and the
heartbeat thread, never from the loop.
"""

from __future__ import annotations

import logging
from typing import Any

from envelopes import keys

from .records import text

__all__ = ["Leases", "LEASE_MS", "lease_seconds"]

log = logging.getLogger("sockethub.manager")

LEASE_MS = 15_000  # the default; ``SOCKETHUB_LEASE_SECONDS``
LEASE_MIN, LEASE_MAX = 6.0, 300.0  # below 6 s a renewal could not keep up with the fence
HANDOFF_TTL = 60  # seconds a handed-over connection waits for a taker in the list


def lease_seconds(setting: float) -> float:
    return min(LEASE_MAX, max(LEASE_MIN, float(setting)))


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


class Leases:
    def __init__(self, platform: str, redis: Any, queue: str, lease_ms: int = LEASE_MS):
        self.platform = platform
        self.redis = redis
        self.queue = queue  # this node's direct queue: what our leases name
        self.lease_ms = int(lease_ms)
        self._claim = redis.register_script(_CLAIM)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    def owner(self, key: str) -> str | None:
        raw = self.redis.get(keys.lease(self.platform, key))
        return None if raw is None else text(raw)

    def held(self, key: str) -> bool:
        return bool(self.redis.exists(keys.lease(self.platform, key)))

    def node_alive(self, queue: str) -> bool:
        return bool(self.redis.exists(keys.node_alive(queue)))

    def alive(self) -> None:
        self.redis.set(keys.node_alive(self.queue), "1", px=self.lease_ms)

    def gone(self) -> None:
        self.redis.delete(keys.node_alive(self.queue))

    def claim(self, key: str, seen: str | None) -> str:
        """Ours now (returns our queue) unless someone other than ``seen`` holds it."""
        lease = keys.lease(self.platform, key)
        return text(self._claim(keys=[lease], args=[self.queue, seen or "", self.lease_ms]))

    def renew(self, key: str) -> bool:
        return bool(
            self._renew(keys=[keys.lease(self.platform, key)], args=[self.queue, self.lease_ms])
        )

    def release(self, key: str) -> None:
        self._release(keys=[keys.lease(self.platform, key)], args=[self.queue])

    def hand_over(self, released: list[str]) -> None:
        """Tell the other nodes these connections are free now (we are stopping)."""
        if not released:
            return
        name = keys.handoff(self.platform)
        pipe = self.redis.pipeline()
        pipe.rpush(name, *released)
        pipe.expire(name, HANDOFF_TTL)
        pipe.execute()

    def handed(self, timeout: float) -> str | None:
        """A connection another node handed over, waiting up to ``timeout`` seconds."""
        got = self.redis.blpop([keys.handoff(self.platform)], timeout=max(0.01, timeout))
        return None if got is None else text(got[1])

    def hand_back(self, key: str) -> None:
        """One we took from the list but will not adopt (we are stopping too)."""
        self.redis.lpush(keys.handoff(self.platform), key)

    def drain(self, dead_queue: str, into: str) -> None:
        """Move what was sent to a dead node's queue back to the shared one (oldest first:
        each lane puts them back in order by their seq)."""
        moved = 0
        while self.redis.lmove(dead_queue, into, "RIGHT", "LEFT") is not None:
            moved += 1
        if moved:
            log.info("moved %d task(s) from dead node queue %s", moved, dead_queue)
