"""Publishing replies and events into a session's stream, atomically, with ``seq``.

Workers and gateways both write here; whatever writes first for a request wins and every
later writer is a no-op, so each request gets exactly one terminal reply (the worker's
result, or the gateway's timeout). ``redis`` is any redis-py client; this module imports
none.

A stream entry holds ``seq`` and ``f``: the frame as JSON without its ``seq``, sealed
under the session's key (``envelopes.atrest``); the gateway opens it and ``frame_with_seq``
splices the ``seq`` in when it sends it. Entries with ``ctl`` instead are control messages
between gateways (a session resumed elsewhere) and carry no ``seq``.
"""

from __future__ import annotations

import json
from typing import Any

from . import keys
from .atrest import AtRest
from .errors import SessionError

__all__ = ["Outbox", "frame_with_seq", "reply_frame", "failure_frame", "event_frame"]

# Tell the gateway holding the session (the session hash's ``gw``) that its stream has
# something new: its pump then reads only the streams that changed, however many are open.
# ARGV[n], ARGV[n+1], ARGV[n+2]: session id, wake key prefix, wake key suffix.
_WAKE = """
local gw = redis.call('HGET', KEYS[1], 'gw')
if gw then
  local wake = ARGV[{n1}] .. gw .. ARGV[{n2}]
  redis.call('XADD', wake, 'MAXLEN', '~', 10000, '*', 's', ARGV[{n0}])
  redis.call('EXPIRE', wake, 3600)
end
"""

# KEYS: session, request, seq, stream, deadlines
# ARGV: frame, maxlen, deadline member, session id, wake prefix, wake suffix
_REPLY = (
    """
local cur = redis.call('GET', KEYS[2])
redis.call('ZREM', KEYS[5], ARGV[3])
if (not cur) or string.sub(cur, 1, 1) ~= 'p' then return 0 end
local ttl = redis.call('TTL', KEYS[1])
if ttl == -2 then redis.call('DEL', KEYS[2]) return -1 end
if ttl == -1 then ttl = 86400 end
redis.call('SET', KEYS[2], 'done', 'EX', ttl)
local seq = redis.call('INCR', KEYS[3])
redis.call('EXPIRE', KEYS[3], ttl)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[2], '*', 'seq', seq, 'f', ARGV[1])
redis.call('EXPIRE', KEYS[4], ttl)
"""
    + _WAKE.format(n0=4, n1=5, n2=6)
    + """
return seq
"""
)

# KEYS: session, seq, stream   ARGV: frame, maxlen, session id, wake prefix, wake suffix
_EVENT = (
    """
local ttl = redis.call('TTL', KEYS[1])
if ttl == -2 then return -1 end
if ttl == -1 then ttl = 86400 end
local seq = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ttl)
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], '*', 'seq', seq, 'f', ARGV[1])
redis.call('EXPIRE', KEYS[3], ttl)
"""
    + _WAKE.format(n0=3, n1=4, n2=5)
    + """
return seq
"""
)


_WAKE_KEY = keys.gateway_wake("\0").split("\0")  # prefix and suffix around the gateway id


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def reply_frame(rid: str | None, result: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "reply", "id": rid, "status": "completed", "result": result}


def failure_frame(
    rid: str | None, error: dict[str, Any], activity: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A failed reply. ``activity`` is echoed with Sockethub's ``error`` string added."""
    frame: dict[str, Any] = {"kind": "reply", "id": rid, "status": "failed", "error": error}
    if activity is not None:
        frame["activity"] = {**activity, "error": error.get("message", "")}
    return frame


def event_frame(activity: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "event", "activity": activity}


def frame_with_seq(seq: int, frame_json: str) -> str:
    """``{"seq":N,...}`` from a frame's JSON, without parsing it again."""
    return f'{{"seq":{seq},{frame_json[1:]}' if frame_json != "{}" else f'{{"seq":{seq}}}'


class Outbox:
    def __init__(self, redis: Any, maxlen: int = 2000, *, sealer: AtRest):
        self._redis = redis
        self._maxlen = maxlen
        self.sealer = sealer  # what writes here seals, what reads opens (gateway, sweeper)
        self._reply = redis.register_script(_REPLY)
        self._event = redis.register_script(_EVENT)

    def reply(self, sid: str, rid: str, frame: dict[str, Any]) -> int:
        """Terminal reply for a pending request: its seq, 0 if already answered, -1 if the
        session is gone."""
        try:
            sealed = self.sealer.seal_frame(sid, _dumps(frame))
        except SessionError:  # its key is gone with it: clear what the script would
            pipe = self._redis.pipeline(transaction=False)
            pipe.zrem(keys.deadlines(), keys.deadline_member(sid, rid))
            pipe.delete(keys.request(sid, rid))
            pipe.execute()
            return -1
        return int(
            self._reply(
                keys=[
                    keys.session(sid),
                    keys.request(sid, rid),
                    keys.session_seq(sid),
                    keys.session_stream(sid),
                    keys.deadlines(),
                ],
                args=[
                    sealed,
                    self._maxlen,
                    keys.deadline_member(sid, rid),
                    sid,
                    *_WAKE_KEY,
                ],
            )
        )

    def push(self, sid: str, frame: dict[str, Any]) -> int:
        """Any other frame (events, refusals of frames that never became requests)."""
        try:
            sealed = self.sealer.seal_frame(sid, _dumps(frame))
        except SessionError:
            return -1
        return int(
            self._event(
                keys=[keys.session(sid), keys.session_seq(sid), keys.session_stream(sid)],
                args=[sealed, self._maxlen, sid, *_WAKE_KEY],
            )
        )

    def event(self, sid: str, activity: dict[str, Any]) -> int:
        return self.push(sid, event_frame(activity))
