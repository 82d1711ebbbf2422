"""Limits on what one browser, or one client address, may make the gateway do.

Per session: a token bucket of ``burst`` tokens refilled at ``rate`` per second, kept in
the session's hash in Redis, so a resume (on any gateway) continues the same bucket instead
of getting a fresh burst. Every frame takes a token: requests, pings, hellos and frames that
fail to parse alike. A frame that finds the bucket empty digs it into debt, down to
``-burst``; what happens to it depends on how deep the debt is (``verdict``):

    tokens left >= 0              OK       handled
    -burst/2 < tokens left < 0    REFUSE   a ``rate-limited`` reply for a request
    -burst < tokens left <= -b/2  SILENT   dropped, nothing written to Redis
    tokens left at -burst         CLOSE    the socket is closed with 1008

Per client address: open sockets per gateway process, and new sessions per minute across
all gateways (a Redis counter). The address is the peer's, or, when the peer is one of the
trusted proxies, the first address in ``X-Forwarded-For`` that is not one of them.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Iterable
from typing import Any

from envelopes import keys

__all__ = [
    "SessionBucket",
    "Meter",
    "SYNC_EVERY",
    "AddressLimits",
    "client_address",
    "verdict",
    "OK",
    "REFUSE",
    "SILENT",
    "CLOSE",
]

OK, REFUSE, SILENT, CLOSE = "ok", "refuse", "silent", "close"
SYNC_EVERY = 10  # frames charged locally between round trips while far from the limit

# KEYS[1]: session hash   ARGV: rate, burst, frames   Returns the tokens left, as a string
# (Redis would truncate a Lua number). Redis's clock, so every gateway agrees.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return tostring(ARGV[2]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'rl_tokens', 'rl_at')
local tokens = tonumber(v[1]) or burst
local at = tonumber(v[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate)
tokens = math.max(-burst, tokens - tonumber(ARGV[3]))
redis.call('HSET', KEYS[1], 'rl_tokens', tostring(tokens), 'rl_at', tostring(now))
return tostring(tokens)
"""


def verdict(tokens_left: float, burst: int) -> str:
    if tokens_left >= 0:
        return OK
    if tokens_left <= -burst:
        return CLOSE
    if tokens_left > -burst / 2:
        return REFUSE
    return SILENT


class SessionBucket:
    def __init__(self, redis: Any, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self._take = redis.register_script(_TAKE)

    def take(self, sid: str, frames: int = 1) -> float:
        """Charge ``frames`` to the session; the tokens left (negative: in debt)."""
        return float(self._take(keys=[keys.session(sid)], args=[self.rate, self.burst, frames]))


class Meter:
    """One socket's view of its session's bucket, cheap while far from the limit.

    The session hash is the truth. Far from the limit, frames are counted here and charged
    to Redis ``SYNC_EVERY`` at a time (the estimate ignores refill, so it errs low); near
    it every frame is charged at once. A resume elsewhere can miss at most the frames not
    yet charged (``flush`` charges them when the socket ends)."""

    def __init__(self, bucket: SessionBucket, sid: str):
        self._bucket = bucket
        self._sid = sid
        self._known: float | None = None  # tokens left at the last charge
        self._pending = 0

    def charge(self) -> str:
        if self._bucket.rate <= 0:
            return OK
        self._pending += 1
        if (
            self._known is not None
            and self._pending < SYNC_EVERY
            and self._known - self._pending >= SYNC_EVERY
        ):
            return OK
        return verdict(self.flush(), self._bucket.burst)

    def flush(self) -> float:
        if self._pending or self._known is None:
            self._known = self._bucket.take(self._sid, self._pending)
            self._pending = 0
        return self._known


def _networks(entries: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(e.strip(), strict=False) for e in entries if e.strip()]


def _is_in(addr: str, nets: list[Any]) -> bool:
    try:
        ip = ipaddress.ip_address(addr.strip())
    except ValueError:
        return False
    return any(ip in net for net in nets)


def client_address(remote: str, forwarded_for: str | None, trusted: list[Any]) -> str:
    """The client's address: ``X-Forwarded-For`` is believed only from trusted proxies."""
    if not forwarded_for or not _is_in(remote, trusted):
        return remote
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if not _is_in(hop, trusted):
            return hop[:64]
    return remote


class AddressLimits:
    def __init__(self, redis: Any, sockets: int, sessions_per_minute: int, trusted: Iterable[str]):
        self._redis = redis
        self.sockets = sockets
        self.sessions_per_minute = sessions_per_minute
        self.trusted = _networks(trusted)
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def address(self, remote: str, forwarded_for: str | None) -> str:
        return client_address(remote, forwarded_for, self.trusted)

    def open(self, addr: str) -> bool:
        """Count a socket from ``addr``; False (not counted) if it has too many open."""
        with self._lock:
            n = self._open.get(addr, 0)
            if self.sockets and n >= self.sockets:
                return False
            self._open[addr] = n + 1
            return True

    def closed(self, addr: str) -> None:
        with self._lock:
            n = self._open.get(addr, 0) - 1
            if n > 0:
                self._open[addr] = n
            else:
                self._open.pop(addr, None)

    def new_session(self, addr: str) -> bool:
        """Count a new session from ``addr`` in this minute; False if over the limit."""
        if not self.sessions_per_minute:
            return True
        key = keys.address_sessions(addr, int(time.time() // 60))
        pipe = self._redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 120)
        count, _ = pipe.execute()
        return int(count) <= self.sessions_per_minute
