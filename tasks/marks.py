"""Read markers and unread counts, per (connection, conversation), in Redis.

Kept per connection, not per session: the sessions sharing a connection are one person's
tabs, so a conversation read in one is read in all of them (every tab hears the marker
as an event). Three keys per connection (``envelopes/keys.py``), deleted with its record:

    marks    hash   seq (counter of incoming messages), r␟conv → "<seq>␟<id>", u␟conv → n
    convs    zset   conv → seq of its last incoming message (who to forget first)
    msgids   zset   conv␟message id → seq, the latest ``SOCKETHUB_READ_MARKER_IDS`` ones

Every incoming message the worker publishes gets the next ``seq`` (``incoming``); a read
marker names a message id and is stored as that message's ``seq`` (``read``): what came
after it is still unread. A marker naming an id not among the kept ones (our own
message, or one older than the window) reads the whole conversation up to now. Markers
only move forward. Ids and counts only: no message text is kept here.

Bounds: at most ``SOCKETHUB_READ_MARKERS_MAX`` conversations per connection (the least
recently active is forgotten, its count then reads 0) and ``SOCKETHUB_READ_MARKER_IDS``
message ids.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from envelopes import keys
from envelopes.scripts import run_many

__all__ = ["Marks", "Incoming", "ReadMark", "MARKERS_CAP", "IDS_CAP"]

MARKERS_CAP = 100_000  # cap of SOCKETHUB_READ_MARKERS_MAX
IDS_CAP = 100_000  # cap of SOCKETHUB_READ_MARKER_IDS
_SEP = "\x1f"

# KEYS: marks, convs, msgids. ARGV: conv, message id or "", max convs, max ids.
# → {seq, unread}
_INCOMING = """
local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
if ARGV[2] ~= '' then
  redis.call('ZADD', KEYS[3], seq, ARGV[1] .. '\\31' .. ARGV[2])
  local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[4])
  if over > 0 then redis.call('ZREMRANGEBYRANK', KEYS[3], 0, over - 1) end
end
redis.call('ZADD', KEYS[2], seq, ARGV[1])
local unread = redis.call('HINCRBY', KEYS[1], 'u\\31' .. ARGV[1], 1)
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if extra > 0 then
  for _, gone in ipairs(redis.call('ZPOPMIN', KEYS[2], extra)) do
    redis.call('HDEL', KEYS[1], 'u\\31' .. gone, 'r\\31' .. gone)
  end
end
return {seq, unread}
"""

# KEYS: marks, convs, msgids. ARGV: conv, message id, max convs.
# → {moved (1/0), seq read up to, unread, the id the marker names now}
_READ = """
local conv, id = ARGV[1], ARGV[2]
local at = redis.call('ZSCORE', KEYS[3], conv .. '\\31' .. id)
if not at then at = redis.call('HGET', KEYS[1], 'seq') or '0' end
at = tonumber(at)
local old = redis.call('HGET', KEYS[1], 'r\\31' .. conv)
if old then
  local sep = string.find(old, '\\31', 1, true)
  local was = tonumber(string.sub(old, 1, sep - 1))
  if was >= at then
    return {0, was, tonumber(redis.call('HGET', KEYS[1], 'u\\31' .. conv) or '0'),
            string.sub(old, sep + 1)}
  end
end
local unread = 0
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '(' .. at, '+inf')) do
  if string.sub(m, 1, #conv + 1) == conv .. '\\31' then unread = unread + 1 end
end
redis.call('HSET', KEYS[1], 'r\\31' .. conv, at .. '\\31' .. id, 'u\\31' .. conv, unread)
if not redis.call('ZSCORE', KEYS[2], conv) then
  redis.call('ZADD', KEYS[2], at, conv)
  local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
  if extra > 0 then
    for _, gone in ipairs(redis.call('ZPOPMIN', KEYS[2], extra)) do
      redis.call('HDEL', KEYS[1], 'u\\31' .. gone, 'r\\31' .. gone)
    end
  end
end
return {1, at, unread, id}
"""


@dataclass(frozen=True)
class Incoming:
    """What ``incoming`` asks for: one message of ``conversation`` on connection ``key``."""

    key: str
    conversation: str
    message_id: str


@dataclass(frozen=True)
class ReadMark:
    moved: bool  # False: the conversation was already read that far (or further)
    seq: int
    unread: int
    id: str  # the message id the marker names now


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Marks:
    def __init__(self, platform: str, redis: Any, max_conversations: int, max_ids: int = 2000):
        self.platform = platform
        self.redis = redis
        self.max_conversations = max(1, min(max_conversations, MARKERS_CAP))
        self.max_ids = max(1, min(max_ids, IDS_CAP))
        self._incoming = redis.register_script(_INCOMING)
        self._read = redis.register_script(_READ)

    def _keys(self, key: str) -> list[str]:
        p = self.platform
        return [
            keys.connection_marks(p, key),
            keys.connection_convs(p, key),
            keys.connection_msgids(p, key),
        ]

    def incoming(self, messages: list[Incoming]) -> list[int]:
        """Count each message as unread, in one round trip; each one's ``seq``."""
        if not messages:
            return []
        calls = [
            (
                self._keys(m.key),
                [m.conversation, m.message_id, self.max_conversations, self.max_ids],
            )
            for m in messages
        ]
        return [int(got[0]) for got in run_many(self.redis, self._incoming, calls)]

    def read(self, key: str, conversation: str, message_id: str) -> ReadMark:
        """Mark ``conversation`` read up to and including ``message_id``."""
        got = self._read(
            keys=self._keys(key), args=[conversation, message_id, self.max_conversations]
        )
        return ReadMark(bool(int(got[0])), int(got[1]), int(got[2]), _text(got[3]))

    def read_seq(self, key: str, conversations: list[str]) -> list[int]:
        """How far each conversation is read (0: never marked)."""
        if not conversations:
            return []
        fields = [f"r{_SEP}{c}" for c in conversations]
        raw = self.redis.hmget(keys.connection_marks(self.platform, key), fields)
        return [int(_text(v).split(_SEP, 1)[0]) if v is not None else 0 for v in raw]

    def summary(self, key: str) -> dict[str, dict[str, Any]]:
        """Per conversation with a count or a marker: ``{unread, read?}`` (the connect
        reply's ``conversations``)."""
        out: dict[str, dict[str, Any]] = {}
        for field, value in self.redis.hgetall(keys.connection_marks(self.platform, key)).items():
            kind, _, conv = _text(field).partition(_SEP)
            if not conv:
                continue
            entry = out.setdefault(conv, {"unread": 0})
            if kind == "u":
                entry["unread"] = int(value)
            elif kind == "r":
                entry["read"] = _text(value).split(_SEP, 1)[1]
        return out
