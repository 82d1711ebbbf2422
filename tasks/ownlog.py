"""The own log: every message of a connection's conversations, sealed, in Redis.

Recorded by the worker that holds the connection (``tasks/fanout.py`` for the events it
fans out, ``tasks/runner.py`` for our own sends) and read by ``query`` history and search
(``tasks/history.py``). Shared by every session on the connection; gone with it.

Sealing: each connection has a random log key, kept in its record (``sh:conn:…`` field
``lkey``) wrapped under the server key (``AtRest.wrap_log_key``). Messages are sealed under
it; conversation names, message ids and words are stored only as keyed hashes under it
(``digest``), so a copy of Redis says neither what was said nor to whom. Dropping the
record (``Records.drop``, when the connection's sessions have all ended) deletes the key
and the log: from then on nothing of it can be read.

Layout per conversation (``envelopes.keys.log_conversation``): ``:h`` (``first``, ``last``
seq, ``bytes``), ``:m`` seq → id digest + sealed activity, ``:i`` id digest → seq, ``:t``
seq → time (ms, 8 bytes) + 4-byte word digests: the blind index that search scans
without opening anything. Seqs are consecutive; the oldest are dropped first, past
``SOCKETHUB_HISTORY_MAX_MESSAGES`` or ``_MAX_BYTES``; past ``_MAX_CONVERSATIONS`` the
conversation quiet for longest goes. Called from the publisher and task threads, never
from the loop.
"""

from __future__ import annotations

import json
import secrets
import struct
import threading
import time
from dataclasses import dataclass
from typing import Any

import nacl.encoding
import nacl.hash

from envelopes import keys
from envelopes.atrest import AtRest, seal, unseal
from envelopes.context import context_for
from envelopes.errors import SockethubError
from envelopes.settings import Settings

from .logpages import conversation_of, epoch, window, words

__all__ = ["OwnLog", "Bounds", "Page", "bounds_from", "log_keys", "PARTS", "ID_LEN"]

PARTS = (":h", ":m", ":i", ":t")
ID_LEN = 12  # bytes of a message id's digest, in front of each sealed message
WORD_LEN = 4  # bytes of a word's digest: a false match is checked once opened
KEY_CACHE_SECONDS = 5.0
# Caps of SOCKETHUB_HISTORY_MAX_MESSAGES, _MAX_BYTES, _MAX_CONVERSATIONS.
MAX_MESSAGES_CAP = 100_000
MAX_BYTES_CAP = 64 * 1024**2
MAX_CONVERSATIONS_CAP = 10_000

# KEYS: record, conversations, head, messages, ids, tags.
# ARGV: id digest, sealed, tags, max messages, max bytes, now (ms), conversation digest.
# Only while the record lives: a message recorded after the connection ended leaves nothing.
_APPEND = f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {{-1, 0}} end
if redis.call('HEXISTS', KEYS[5], ARGV[1]) == 1 then return {{0, 0}} end
local seq = redis.call('HINCRBY', KEYS[3], 'last', 1)
local value = ARGV[1] .. ARGV[2]
redis.call('HSET', KEYS[4], seq, value)
redis.call('HSET', KEYS[5], ARGV[1], seq)
redis.call('HSET', KEYS[6], seq, ARGV[3])
local bytes = redis.call('HINCRBY', KEYS[3], 'bytes', #value)
local first = tonumber(redis.call('HGET', KEYS[3], 'first') or seq)
local max, maxb = tonumber(ARGV[4]), tonumber(ARGV[5])
while first < seq and (seq - first + 1 > max or bytes > maxb) do
  local old = redis.call('HGET', KEYS[4], first)
  if old then
    redis.call('HDEL', KEYS[5], string.sub(old, 1, {ID_LEN}))
    redis.call('HDEL', KEYS[4], first)
    redis.call('HDEL', KEYS[6], first)
    bytes = redis.call('HINCRBY', KEYS[3], 'bytes', -#old)
  end
  first = first + 1
end
redis.call('HSET', KEYS[3], 'first', first)
redis.call('ZADD', KEYS[2], ARGV[6], ARGV[7])
return {{seq, redis.call('ZCARD', KEYS[2])}}
"""

# KEYS: record. ARGV: wrapped key. A log key only for a record that exists.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
return redis.call('HSETNX', KEYS[1], 'lkey', ARGV[1])
"""

# KEYS: record. ARGV: the wrapped key read, the same key rewrapped under the current secret.
_REWRAP = """
if redis.call('HGET', KEYS[1], 'lkey') == ARGV[1] then
  return redis.call('HSET', KEYS[1], 'lkey', ARGV[2])
end
return -1
"""


@dataclass(frozen=True)
class Bounds:
    max_messages: int  # per conversation; 0 turns the log off
    max_bytes: int  # of sealed messages per conversation
    max_conversations: int  # per connection


@dataclass
class Page:
    """Our log's part of a history page (``tasks/history.py`` shapes the reply)."""

    items: list[dict[str, Any]]
    before: bool  # the log has older messages than these
    after: bool  # ... and newer ones
    found: bool  # the log has this conversation at all


def bounds_from(settings: Settings) -> Bounds:
    return Bounds(
        min(settings.history_max_messages, MAX_MESSAGES_CAP),
        max(1, min(settings.history_max_bytes, MAX_BYTES_CAP)),
        max(1, min(settings.history_max_conversations, MAX_CONVERSATIONS_CAP)),
    )


def log_keys(redis: Any, platform: str, ckey: str) -> list[str]:
    """Every key of the connection's log, for ``Records.drop``."""
    index = keys.log_conversations(platform, ckey)
    out = [index]
    for conv in redis.zrange(index, 0, -1):
        name = keys.log_conversation(platform, ckey, _text(conv))
        out += [name + part for part in PARTS]
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(activity: dict[str, Any]) -> int:
    return int((epoch(activity.get("published")) or time.time()) * 1000)


class OwnLog:
    def __init__(self, platform: str, redis: Any, sealer: AtRest, bounds: Bounds):
        self.platform = platform
        self.redis = redis
        self.sealer = sealer
        self.bounds = bounds
        self._append = redis.register_script(_APPEND)
        self._create = redis.register_script(_CREATE)
        self._rewrap = redis.register_script(_REWRAP)
        self._keys: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.bounds.max_messages > 0

    # -- keys --------------------------------------------------------------------------------
    def log_key(self, ckey: str, create: bool = False) -> bytes | None:
        """The connection's log key (made now if ``create`` and it has none); None if the
        connection has no record, or no log yet."""
        now = time.monotonic()
        with self._lock:
            hit = self._keys.get(ckey)
        if hit is not None and hit[1] > now:
            return hit[0]
        record = keys.connection(self.platform, ckey)
        wrapped = self.redis.hget(record, "lkey")
        if wrapped is None:
            if not create:
                return None
            fresh = self.sealer.wrap_log_key(self.platform, ckey, secrets.token_bytes(32))
            self._create(keys=[record], args=[fresh])
            wrapped = self.redis.hget(record, "lkey")
            if wrapped is None:
                return None  # the record is gone: nothing to log into
        key, stale = self.sealer.unwrap_log_key(self.platform, ckey, wrapped)
        if stale:
            self._rewrap(
                keys=[record], args=[wrapped, self.sealer.wrap_log_key(self.platform, ckey, key)]
            )
        with self._lock:
            if len(self._keys) > 10_000:
                self._keys = {k: v for k, v in self._keys.items() if v[1] > now}
            self._keys[ckey] = (key, now + KEY_CACHE_SECONDS)
        return key

    def forget(self, ckey: str) -> None:
        with self._lock:
            self._keys.pop(ckey, None)

    @staticmethod
    def digest(key: bytes, purpose: str, value: str, size: int = 16) -> bytes:
        return nacl.hash.blake2b(
            value.encode(),
            key=key,
            digest_size=size,
            person=f"sh-log-{purpose}".encode()[:16],
            encoder=nacl.encoding.RawEncoder,
        )

    def conversation(self, key: bytes, conv: str) -> str:
        return self.digest(key, "conv", conv.lower()).hex()

    def _id(self, key: bytes, mid: str) -> bytes:
        return self.digest(key, "id", mid, ID_LEN)

    def _word(self, key: bytes, word: str) -> bytes:
        return self.digest(key, "word", word, WORD_LEN)

    def _prefix(self, ckey: str, conv_digest: str) -> str:
        return keys.log_conversation(self.platform, ckey, conv_digest)

    # -- recording ---------------------------------------------------------------------------
    def record(self, entries: list[tuple[str, dict[str, Any], bool]]) -> None:
        """Log ``(connection, activity, own)`` entries: messages of a conversation with an
        ``object.id`` (``logpages.stamp``); anything else is skipped. A message already
        logged (same id) is not logged twice."""
        if not self.enabled:
            return
        calls: list[tuple[str, str, list[str], list[Any]]] = []
        for ckey, activity, own in entries:
            conv = conversation_of(activity, own)
            mid = str((activity.get("object") or {}).get("id") or "")
            if conv is None or not mid:
                continue
            key = self.log_key(ckey, create=True)
            if key is None:
                continue
            cd = self.conversation(key, conv)
            stored = {k: v for k, v in activity.items() if k != "@context"}
            sealed = seal(
                key, json.dumps(stored, separators=(",", ":")).encode(), *self._aad(ckey, cd)
            )
            content = str(activity["object"].get("content") or "")  # a link alone: none
            tags = struct.pack(">Q", _ms(activity)) + b"".join(
                self._word(key, w) for w in words(content)
            )
            prefix = self._prefix(ckey, cd)
            calls.append(
                (
                    ckey,
                    cd,
                    [
                        keys.connection(self.platform, ckey),
                        keys.log_conversations(self.platform, ckey),
                        *(prefix + part for part in PARTS),
                    ],
                    [
                        self._id(key, mid),
                        sealed,
                        tags,
                        self.bounds.max_messages,
                        max(1, self.bounds.max_bytes),
                        _ms(activity),
                        cd,
                    ],
                )
            )
        if not calls:
            return
        pipe = self.redis.pipeline(transaction=False)
        for _ckey, _cd, ks, args in calls:
            self._append(keys=ks, args=args, client=pipe)
        crowded = {
            ckey
            for (ckey, _cd, _k, _a), (_seq, count) in zip(calls, pipe.execute(), strict=True)
            if int(count) > self.bounds.max_conversations
        }
        for ckey in crowded:
            self._evict(ckey)

    def _aad(self, ckey: str, cd: str) -> tuple[str, ...]:
        return ("log", self.platform, ckey, cd)

    def _evict(self, ckey: str) -> None:
        """Past ``max_conversations``: the conversations quiet for longest go."""
        index = keys.log_conversations(self.platform, ckey)
        extra = self.redis.zcard(index) - self.bounds.max_conversations
        if extra <= 0:
            return
        old = [_text(c) for c in self.redis.zrange(index, 0, extra - 1)]
        pipe = self.redis.pipeline(transaction=False)
        for cd in old:
            pipe.delete(*(self._prefix(ckey, cd) + part for part in PARTS))
        pipe.zrem(index, *old)
        pipe.execute()

    # -- reading -----------------------------------------------------------------------------
    def _open(self, key: bytes, ckey: str, cd: str, raw: Any) -> dict[str, Any] | None:
        if raw is None:
            return None
        blob = raw if isinstance(raw, bytes) else str(raw).encode("latin-1")
        try:
            item = json.loads(unseal(key, blob[ID_LEN:], *self._aad(ckey, cd)))
        except (SockethubError, ValueError):
            return None
        return {"@context": context_for(self.platform), **item}

    def page(self, ckey: str, conv: str, kind: str, anchor: str | None, limit: int) -> Page:
        """Up to ``limit`` messages of ``conv``, oldest first: the newest (``kind`` none),
        or those ``before``/``after``/``around`` the message ``anchor``. Raises ``KeyError``
        when ``anchor`` is not in the log."""
        key = self.log_key(ckey)
        if key is None:
            return Page([], False, False, False)
        cd = self.conversation(key, conv)
        prefix = self._prefix(ckey, cd)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(prefix + ":h", ["first", "last"])
        if anchor is not None:
            pipe.hget(prefix + ":i", self._id(key, anchor))
        answers = pipe.execute()
        first, last = answers[0]
        if last is None:
            return Page([], False, False, False)
        first, last = int(first or 1), int(last)
        at = None
        if anchor is not None:
            if answers[1] is None:
                raise KeyError(anchor)
            at = int(answers[1])
        lo, hi = window(first, last, at, kind, limit)
        if hi < lo:
            return Page([], lo > first, hi < last, True)
        raws = self.redis.hmget(prefix + ":m", list(range(lo, hi + 1)))
        items = [i for raw in raws if (i := self._open(key, ckey, cd, raw)) is not None]
        return Page(items, lo > first, hi < last, True)

    def has(self, ckey: str, conv: str) -> bool:
        key = self.log_key(ckey)
        if key is None:
            return False
        index = keys.log_conversations(self.platform, ckey)
        return self.redis.zscore(index, self.conversation(key, conv)) is not None

    def search(
        self,
        ckey: str,
        conv: str | None,
        text: str,
        after: tuple[int, str, int] | None,
        limit: int,
    ) -> tuple[list[dict[str, Any]], tuple[int, str, int] | None]:
        """Messages containing every word of ``text``, newest first, in ``conv`` or in every
        conversation of the connection; ``after`` is where the previous page ended. Returns
        the items and where this page ends (None: no more). Only the index is scanned;
        only the candidates are opened (and checked: a 4-byte digest can match by chance)."""
        key = self.log_key(ckey)
        wanted = words(text)
        if key is None or not wanted:
            return [], None
        digests = [self._word(key, w) for w in wanted]
        index = keys.log_conversations(self.platform, ckey)
        if conv:
            convs = [self.conversation(key, conv)]
        else:
            convs = [_text(c) for c in self.redis.zrange(index, 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for cd in convs:
            pipe.hgetall(self._prefix(ckey, cd) + ":t")
        found: list[tuple[int, str, int]] = []
        for cd, tags in zip(convs, pipe.execute(), strict=True):
            for seq, blob in tags.items():
                marks = {blob[i : i + WORD_LEN] for i in range(8, len(blob), WORD_LEN)}
                if all(d in marks for d in digests):
                    found.append((struct.unpack(">Q", blob[:8])[0], cd, int(seq)))
        found.sort(reverse=True)
        if after is not None:
            found = [f for f in found if f < after]
        out: list[dict[str, Any]] = []
        want = set(wanted)
        taken = 0
        while found[taken:] and len(out) < limit:
            chunk = found[taken : taken + limit - len(out)]
            taken += len(chunk)
            pipe = self.redis.pipeline(transaction=False)
            for _when, cd, seq in chunk:
                pipe.hget(self._prefix(ckey, cd) + ":m", seq)
            for (_, cd, _s), raw in zip(chunk, pipe.execute(), strict=True):
                item = self._open(key, ckey, cd, raw)
                if item is not None and want <= set(words(str(item["object"].get("content")))):
                    out.append(item)
        more = found[taken - 1] if taken and taken < len(found) else None
        return out, more
