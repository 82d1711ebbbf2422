"""Politeness towards the hosts browsers make us fetch from, shared by every worker.

Two things, both in Redis so they hold across processes and machines:

* a per-host limit on upstream requests in flight (a counting semaphore: a sorted set of
  holders scored by when their lease runs out, so a worker that dies holding a slot only
  keeps it until its lease ends);
* a per-host "not before" time, set when a host answers ``429`` (or ``503``) with
  ``Retry-After`` (RFC 9110 §10.2.3): until then nobody asks that host for anything, and
  requests get ``upstream-error`` naming the wait.

``redis`` is any redis-py client; this module imports none.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from envelopes import keys
from envelopes.errors import UpstreamError, UpstreamTimeout

__all__ = ["HostThrottle", "slots_key", "wait_key"]


# KEYS[1]: the host's holders   ARGV: token, lease (ms), limit → 1 when the slot is ours.
# Time comes from Redis itself, so workers with skewed clocks still agree on leases.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
if redis.call('PTTL', KEYS[1]) < lease + 1000 then
  redis.call('PEXPIRE', KEYS[1], lease + 1000)
end
return 1
"""


def slots_key(host: str) -> str:
    """Sorted set: tokens of the requests in flight to ``host``, scored by lease end (ms)."""
    return f"{keys.http_host(host)}:slots"


def wait_key(host: str) -> str:
    """String with a TTL: while it exists, ``host`` asked us not to come back yet."""
    return f"{keys.http_host(host)}:wait"


class HostThrottle:
    def __init__(
        self,
        redis: Any,
        limit: int = 4,
        *,
        max_backoff: float = 3600.0,
        poll: float = 0.02,
    ) -> None:
        self._redis = redis
        self.limit = max(1, limit)
        self.max_backoff = max_backoff
        self._poll = poll
        self._acquire = redis.register_script(_ACQUIRE)

    # -- Retry-After -------------------------------------------------------------------
    def back_off(self, host: str, seconds: float) -> float:
        """Remember not to ask ``host`` for ``seconds`` (capped); the wait actually kept."""
        wait = min(max(seconds, 1.0), self.max_backoff)
        self._redis.set(wait_key(host), str(time.time() + wait), px=int(wait * 1000))
        return wait

    def waiting(self, host: str) -> float | None:
        """Seconds ``host`` still wants us to stay away, or None."""
        left = self._redis.pttl(wait_key(host))
        return left / 1000 if left and left > 0 else None

    def check(self, host: str, url: str) -> None:
        """Refuse with ``upstream-error`` while ``host`` wants us to wait, naming the wait."""
        left = self.waiting(host)
        if left is not None:
            seconds = max(1, round(left))
            raise UpstreamError(
                f"cannot fetch {url}: {host} asked us to slow down (429/503 with "
                f"Retry-After); not asking it again for another {seconds} s"
            )

    # -- concurrency -------------------------------------------------------------------
    @contextmanager
    def hold(self, host: str, url: str, deadline: float) -> Iterator[None]:
        """One of ``host``'s slots until the block ends; waits for one until ``deadline``
        (epoch seconds), then ``upstream-timeout`` naming the URL."""
        token = uuid.uuid4().hex
        key = slots_key(host)
        delay = self._poll
        while True:
            left = deadline - time.time()
            lease_ms = max(1000, int(left * 1000) + 1000)
            if left > 0 and self._acquire(keys=[key], args=[token, lease_ms, self.limit]):
                break
            if left <= 0:
                raise UpstreamTimeout(
                    f"cannot fetch {url}: {host} already has {self.limit} requests in "
                    "flight from this gateway, and none finished in time"
                )
            time.sleep(min(left, delay * random.uniform(0.5, 1.5)))
            delay = min(delay * 1.5, 0.2)
        try:
            yield
        finally:
            self._redis.zrem(key, token)

    def in_flight(self, host: str) -> int:
        """Holders whose lease has not run out (for tests and health pages)."""
        return int(self._redis.zcount(slots_key(host), int(time.time() * 1000), "+inf"))
