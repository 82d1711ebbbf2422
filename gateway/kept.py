"""Kept sessions: a session that outlives its socket for ``keep`` seconds, not the grace.

A browser asks in ``hello`` (``keep``: seconds, or true for ``SOCKETHUB_KEEP_MAX``). The keep
is a duration of absence: every detach gives the session ``keep`` more seconds from then
(so does every heartbeat while attached, should the gateway die without a detach); a
resume that says ``keep`` again replaces it (``false`` or 0 stops keeping), one that says
nothing leaves it as it was. While kept, nothing else changes: the session's keys simply
live longer, so the worker's janitor still finds the session and leaves its upstream
connections up, and events go on being written to its stream (bounded as ever).

Kept sessions hold upstream connections with nobody there, so they are counted, per
client address and in total, in two sorted sets scored by when each keep ends at the
latest (stale entries are dropped before counting, so a session that simply expired stops
counting without anyone removing it). Past a cap the session works as usual, not kept,
and the welcome says why (``keepRefused``, code ``keep-refused``).
"""

from __future__ import annotations

import time
from typing import Any

from envelopes import keys
from envelopes.errors import InvalidFrame, KeepRefused, SockethubError

__all__ = ["KeptSessions", "requested_keep"]

# Count, then add: the cap check and the add are one step, so two gateways granting at
# once cannot both take the last place. A session already counted is only re-scored.
# KEYS: all kept, the address's kept, session hash.
# ARGV: sid, now, until, total cap, address cap, keep seconds, address, address key TTL.
_GRANT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  local total, per = tonumber(ARGV[4]), tonumber(ARGV[5])
  if total > 0 and redis.call('ZCARD', KEYS[1]) >= total then return 1 end
  if per > 0 and redis.call('ZCARD', KEYS[2]) >= per then return 2 end
end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[8])
redis.call('HSET', KEYS[3], 'keep', ARGV[6], 'ka', ARGV[7])
return 0
"""


def requested_keep(value: Any, keep_max: int) -> int | None:
    """The seconds ``hello.keep`` asks for, capped at ``keep_max``; None if it asks
    nothing; 0 to stop keeping. Raises ``InvalidFrame`` for what is not a keep."""
    if value is None:
        return None
    if value is True:
        return keep_max
    if value is False:
        return 0
    if isinstance(value, (int, float)) and value >= 0 and value == value:
        return int(min(value, keep_max))
    raise InvalidFrame("hello.keep must be seconds (a number, 0 to stop) or true (the most)")


class KeptSessions:
    def __init__(self, redis: Any, keep_max: int, per_address: int, total: int):
        self._redis = redis
        self.keep_max = keep_max
        self.per_address = per_address
        self.total = total
        self._grant = redis.register_script(_GRANT)

    def grant(self, sid: str, seconds: int, address: str, ttl: int) -> SockethubError | None:
        """Keep ``sid`` for ``seconds`` of absence (counted against ``address``); its keys
        then live ``ttl`` seconds. Returns why not, if it is not kept."""
        now = time.time()
        got = int(
            self._grant(
                keys=[keys.kept(), keys.kept_address(address), keys.session(sid)],
                args=[
                    sid,
                    f"{now:.3f}",
                    f"{now + ttl:.3f}",
                    self.total,
                    self.per_address,
                    seconds,
                    address,
                    self.keep_max + ttl + 60,
                ],
            )
        )
        if got == 1:
            return KeepRefused(
                f"this session is not kept: {self.total} sessions are kept already, the most "
                "this deployment keeps (SOCKETHUB_KEPT_SESSIONS); it works as usual and ends "
                "when its socket has been gone for the resume grace"
            )
        if got == 2:
            return KeepRefused(
                f"this session is not kept: your address has {self.per_address} kept "
                "sessions already (SOCKETHUB_KEPT_PER_ADDRESS); end one of them (an `end` "
                "frame) to keep this one; it works as usual meanwhile"
            )
        return None

    def renew(self, pipe: Any, sid: str, address: str, ttl: int) -> None:
        """Queue on ``pipe``: the keep of ``sid`` now ends ``ttl`` seconds from now."""
        until = time.time() + ttl
        pipe.zadd(keys.kept(), {sid: until}, xx=True)
        pipe.zadd(keys.kept_address(address), {sid: until}, xx=True)
        pipe.expire(keys.kept_address(address), self.keep_max + ttl + 60)  # as in _GRANT

    def release(self, pipe: Any, sid: str, address: str) -> None:
        """Queue on ``pipe``: ``sid`` is no longer kept (ended, or asked to stop)."""
        pipe.zrem(keys.kept(), sid)
        if address:
            pipe.zrem(keys.kept_address(address), sid)
        pipe.hdel(keys.session(sid), "keep", "ka")
