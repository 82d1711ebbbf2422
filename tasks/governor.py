"""The fleet-wide governor of connects to one upstream server, kept in Redis.

Networks ban gateways that reconnect everything at once after a restart, and count every
connection from one address together. So before each connect attempt (a first connect, a
reconnect, a takeover) every worker node asks here, atomically in one script:

- is the server **paused**? A server that answered "Throttled", "Too many connections"
  or a K-line to an address of ours is left alone, fleet-wide, for a while that doubles
  with each such answer in a row (``SOCKETHUB_UPSTREAM_PAUSE`` .. ``_PAUSE_MAX``);
- are the **caps** reached? live connections to the server, from this worker's source
  address, and on behalf of one browser address. A connection holds a slot: a member of a
  sorted set scored by when it lapses, renewed by its owner's heartbeat (the lease
  timing, ``tasks/leases.py``), so a dead node's slots lapse with its leases;
- when is its **turn**? a token bucket per server (GCRA: one Redis key holding the time
  the next token is due), ``SOCKETHUB_UPSTREAM_CONNECT_RATE`` with a burst of
  ``SOCKETHUB_UPSTREAM_CONNECT_BURST``: the answer is how long to wait, and the turn is
  reserved, so 500 connections taken over together go out at the rate, whichever nodes
  take them. A turn further away than the caller may wait is not reserved.

Times are Redis's own (``TIME``): the nodes' clocks need not agree. Called from threads,
never on the loop (``tasks/admission.py`` is the loop's side).
"""

from __future__ import annotations

import math
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from envelopes import keys
from envelopes.settings import Settings

from .records import text

__all__ = ["Governor", "Limits", "Slot", "Verdict", "source_address", "CAPS"]

# The settings each cap is read from, as refusals name them.
CAPS = {
    "server": "SOCKETHUB_UPSTREAM_MAX_CONNECTIONS",
    "source": "SOCKETHUB_UPSTREAM_MAX_PER_SOURCE",
    "browser": "SOCKETHUB_UPSTREAM_MAX_PER_BROWSER",
}
RATE_MAX, BURST_MAX = 1000.0, 10_000  # the documented caps of the pacing settings
PAUSE_MAX_CAP = 3600.0  # a pause never lasts longer than an hour
SOURCE_TTL = 60.0  # seconds a worker's source address toward a host is remembered

_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member, ttl, maxwait = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local pttl = redis.call('PTTL', KEYS[5])
if pttl > 0 then return {'paused', pttl, redis.call('GET', KEYS[5]) or ''} end
local names = {'server', 'source', 'browser'}
for i = 1, 3 do
  local cap = tonumber(ARGV[3 + i])
  if cap >= 0 then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    if cap > 0 and not redis.call('ZSCORE', KEYS[i], member)
        and redis.call('ZCARD', KEYS[i]) >= cap then
      return {'cap', 0, names[i]}
    end
  end
end
local wait = 0
local interval = tonumber(ARGV[7])
if interval > 0 then
  local tat = tonumber(redis.call('GET', KEYS[4]) or '0')
  if tat < now then tat = now end
  local go = tat - interval * (tonumber(ARGV[8]) - 1)
  if go > now then wait = go - now end
  if wait > maxwait then return {'paced', wait, ''} end
  redis.call('SET', KEYS[4], tat + interval, 'PX', math.ceil(tat + interval - now + 1000))
end
for i = 1, 3 do
  if tonumber(ARGV[3 + i]) >= 0 then
    redis.call('ZADD', KEYS[i], math.ceil(now + ttl + wait), member)
    if redis.call('PTTL', KEYS[i]) < ttl + wait then
      redis.call('PEXPIRE', KEYS[i], math.ceil(ttl + wait + 1000))
    end
  end
end
return {'ok', wait, ''}
"""
# Renew the slots of a live connection (added back if a Redis blip lost them: it is live).
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + ttl, ARGV[1])
  if redis.call('PTTL', KEYS[i]) < ttl then redis.call('PEXPIRE', KEYS[i], ttl + 1000) end
end
return 1
"""
# Pause the server: base * 2^(strikes-1), capped; never shortens a longer pause.
_PAUSE = """
local strikes = redis.call('INCR', KEYS[2])
local base, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('PEXPIRE', KEYS[2], cap * 4)
local pause = math.min(cap, base * 2 ^ (strikes - 1))
if redis.call('PTTL', KEYS[1]) < pause then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', math.floor(pause))
end
return math.floor(pause)
"""


@dataclass(frozen=True)
class Limits:
    """The governor's settings, each clamped to its documented cap (0: none / off)."""

    max_connections: int = 0
    max_per_source: int = 0
    max_per_browser: int = 0
    rate: float = 0.0  # connects per second per server, fleet-wide
    burst: int = 1
    pause: float = 30.0
    pause_max: float = 600.0

    @classmethod
    def from_settings(cls, s: Settings) -> Limits:
        return cls(
            max_connections=s.upstream_max_connections,
            max_per_source=s.upstream_max_per_source,
            max_per_browser=s.upstream_max_per_browser,
            rate=min(RATE_MAX, s.upstream_connect_rate),
            burst=max(1, min(BURST_MAX, s.upstream_connect_burst)),
            pause=min(PAUSE_MAX_CAP, s.upstream_pause),
            pause_max=min(PAUSE_MAX_CAP, max(s.upstream_pause, s.upstream_pause_max)),
        )


@dataclass(frozen=True)
class Slot:
    """One connection's place at one server: ``server`` is ``host:port``; ``source`` the
    worker's address toward it and ``browser`` the browser's address ("" when unknown)."""

    server: str
    key: str
    source: str = ""
    browser: str = ""

    def sets(self) -> list[str]:
        base = keys.governor(self.server)
        out = [f"{base}:c"]
        out += [f"{base}:src:{self.source}"] if self.source else []
        out += [f"{base}:br:{self.browser}"] if self.browser else []
        return out


@dataclass(frozen=True)
class Verdict:
    """``ok``: go after ``wait`` seconds (the turn is reserved). Else not now: ``paused``
    (``wait`` is what is left of the pause, ``text`` the server's words), ``cap`` (``limit``
    names which: server, source or browser) or ``paced`` (the turn is ``wait`` away, more
    than the caller may wait)."""

    outcome: str
    wait: float = 0.0
    text: str = ""
    limit: str = ""


class Governor:
    def __init__(self, redis: Any, limits: Limits, slot_ms: int):
        self.redis = redis
        self.limits = limits
        self.slot_ms = int(slot_ms)  # a slot lapses this long after its last renewal
        self._admit = redis.register_script(_ADMIT)
        self._renew = redis.register_script(_RENEW)
        self._pause = redis.register_script(_PAUSE)

    def admit(self, slot: Slot, max_wait: float) -> Verdict:
        """May ``slot`` connect, and after how long? Atomic across the fleet."""
        lim = self.limits
        base = keys.governor(slot.server)
        caps = (
            (f"{base}:c", lim.max_connections, True),
            (f"{base}:src:{slot.source}", lim.max_per_source, bool(slot.source)),
            (f"{base}:br:{slot.browser}", lim.max_per_browser, bool(slot.browser)),
        )
        interval = 1000.0 / lim.rate if lim.rate > 0 else 0
        wait_ms = min(max_wait, 10 * 86400) * 1000  # math.inf is no ARGV
        raw = self._admit(
            keys=[c[0] for c in caps] + [f"{base}:tb", f"{base}:pause"],
            args=[
                slot.key,
                self.slot_ms,
                int(wait_ms),
                *(c[1] if c[2] else -1 for c in caps),
                interval,
                lim.burst,
            ],
        )
        outcome, waited, extra = text(raw[0]), float(raw[1]) / 1000, text(raw[2])
        if outcome == "cap":
            return Verdict("cap", limit=extra)
        return Verdict(outcome, round(waited, 3), extra if outcome == "paused" else "")

    def renew(self, slots: list[Slot]) -> None:
        """The heartbeat's: every live connection's slots last another ``slot_ms``."""
        if not slots:
            return
        pipe = self.redis.pipeline(transaction=False)
        for slot in slots:
            self._renew(keys=slot.sets(), args=[slot.key, self.slot_ms], client=pipe)
        pipe.execute()

    def release(self, slot: Slot) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for name in slot.sets():
            pipe.zrem(name, slot.key)
        pipe.execute()

    def pause(self, server: str, words: str) -> float:
        """The server asked us to slow down: no connect to it from any node for a while,
        doubling with each such answer in a row (they are forgotten after four of the
        longest pauses without one). Returns the pause, in seconds."""
        base = keys.governor(server)
        lim = self.limits
        ms = self._pause(
            keys=[f"{base}:pause", f"{base}:strikes"],
            args=[int(lim.pause * 1000), int(lim.pause_max * 1000), words[:400] or "paused"],
        )
        return float(ms) / 1000

    def paused(self, server: str) -> float:
        """Seconds left of the server's pause (0: none)."""
        left = self.redis.pttl(f"{keys.governor(server)}:pause")
        return max(0.0, float(left) / 1000)

    def live(self, server: str) -> int:
        """Live connections to ``server`` across the fleet (slots not lapsed)."""
        now = time.time() * 1000
        return int(self.redis.zcount(f"{keys.governor(server)}:c", now, math.inf))


_sources: dict[tuple[str, int], tuple[float, str]] = {}
_sources_lock = threading.Lock()


def source_address(host: str, port: int) -> str:
    """This worker's own address toward ``host:port``, as the server will see it: the
    route's source, found with a UDP socket's ``connect`` (nothing is sent) and
    ``getsockname``; "" when it cannot be known. Blocking (DNS): a thread's, not the loop's."""
    now = time.monotonic()
    with _sources_lock:
        hit = _sources.get((host, port))
    if hit is not None and now - hit[0] < SOURCE_TTL:
        return hit[1]
    found = ""
    try:
        family, _t, _p, _c, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.connect(addr)
            found = str(udp.getsockname()[0])
    except OSError:
        pass
    with _sources_lock:
        if len(_sources) > 4096:
            _sources.clear()
        _sources[(host, port)] = (now, found)
    return found
