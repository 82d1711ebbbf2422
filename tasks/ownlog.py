"""The own log: every message of a connection's conversations, sealed, in Redis.

Recorded by the worker that holds the connection (``tasks/fanout.py`` for the events it
fans out, ``tasks/runner.py`` for our own sends) and read by ``query`` history and search
(``tasks/history.py``, ``tasks/logsearch.py``). Shared by every session on the
connection; gone with it.

Sealing: each connection has a random log key, kept in its record (``sh:conn:…`` field
``lkey``) wrapped under the server key (``AtRest.wrap_log_key``). Messages are sealed under
it, by the chunk (``tasks/logchunks.py``); conversation names, message ids and words are
stored only as keyed hashes under it (``digest``), so a copy of Redis says neither what
was said nor to whom. Dropping the record (``Records.drop``, when the connection's
sessions have all ended) deletes the key and the log: from then on nothing of it can be
read.

Layout per conversation (``envelopes.keys.log_conversation``): ``:h`` (``v`` 2, ``first``
and ``last`` seq, ``low`` chunk, ``bytes``), ``:c`` chunk number → sealed chunk, ``:x``
chunk number → its index (ids, times, word digests). Seqs are consecutive; the oldest are
dropped first, past ``SOCKETHUB_HISTORY_MAX_MESSAGES`` (exactly: ``first`` moves) or
``_MAX_BYTES`` (of chunks and indexes: whole chunks go, and the newest chunk alone is
kept under it by dropping its oldest); past ``_MAX_CONVERSATIONS`` the conversation quiet
for longest goes. An append re-seals its conversation's newest chunk: a read, then a
write that happens only if nobody appended in between (``_WRITE`` compares ``last``).

Logs of the first format (``:m``/``:i``/``:t``, pre-release) are not read: the first new
message of such a conversation replaces them, and ``log_keys`` still names them for
``Records.drop``. Called from the publisher and task threads, never from the loop.
"""

from __future__ import annotations

import logging
import secrets
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

from .logchunks import (
    CHUNK,
    ID_LEN,
    WORD_LEN,
    Entry,
    chunk_of,
    pack,
    pack_index,
    unpack,
    unpack_index,
)
from .logpages import conversation_of, epoch, window, words

__all__ = ["OwnLog", "Bounds", "Page", "Ref", "bounds_from", "log_keys", "PARTS"]

PARTS = (":h", ":c", ":x")
OLD_PARTS = (":m", ":i", ":t")  # the first format's
KEY_CACHE_SECONDS = 5.0
RETRIES = 8  # appends that lost the race to another writer before this one gives up
# Caps of SOCKETHUB_HISTORY_MAX_MESSAGES, _MAX_BYTES, _MAX_CONVERSATIONS.
MAX_MESSAGES_CAP = 100_000
MAX_BYTES_CAP = 64 * 1024**2
MAX_CONVERSATIONS_CAP = 10_000
log = logging.getLogger(__name__)

# KEYS: head, chunks, index. ARGV: id digests of the messages to add.
# → {version, first, last, newest chunk, its index, the index of the chunk before it,
#    one byte per id: 1 if the log has it already}: what an append builds on. An id is
# looked for in every index (C's memchr over a few KiB, in Redis: no index leaves it).
_TAIL = f"""
local h = redis.call('HMGET', KEYS[1], 'v', 'first', 'last')
local last = tonumber(h[3] or '0')
if last == 0 then return {{h[1] or '', '1', '0', '', '', '', ''}} end
local n = math.floor((last - 1) / {CHUNK})
local have = {{}}
local blobs = redis.call('HVALS', KEYS[3])
for i, id in ipairs(ARGV) do
  have[i] = '0'
  for _, blob in ipairs(blobs) do
    if string.find(blob, id, 1, true) then have[i] = '1' break end
  end
end
return {{h[1] or '', h[2] or '1', h[3], redis.call('HGET', KEYS[2], n) or '',
        redis.call('HGET', KEYS[3], n) or '', redis.call('HGET', KEYS[3], n - 1) or '',
        table.concat(have)}}
"""

# KEYS: record, conversations, head, chunks, index.
# ARGV: last read, new last, max messages, max bytes, now (ms), conversation digest,
#       first at least, then (chunk number, sealed chunk, index) for each chunk written.
# → {last, conversations} or {-1, 0}: no record (the connection ended: nothing is logged),
#   {-2, 0}: another append came first (read again).
_WRITE = f"""
if redis.call('EXISTS', KEYS[1]) == 0 then return {{-1, 0}} end
local h = redis.call('HMGET', KEYS[3], 'last', 'first', 'bytes', 'low')
if tonumber(h[1] or '0') ~= tonumber(ARGV[1]) then return {{-2, 0}} end
local bytes = tonumber(h[3] or '0')
for i = 8, #ARGV, 3 do
  local n = ARGV[i]
  bytes = bytes - redis.call('HSTRLEN', KEYS[4], n) - redis.call('HSTRLEN', KEYS[5], n)
  redis.call('HSET', KEYS[4], n, ARGV[i + 1])
  redis.call('HSET', KEYS[5], n, ARGV[i + 2])
  bytes = bytes + #ARGV[i + 1] + #ARGV[i + 2]
end
local last, maxb = tonumber(ARGV[2]), tonumber(ARGV[4])
local first = math.max(tonumber(h[2] or '1'), tonumber(ARGV[7]), last - tonumber(ARGV[3]) + 1)
local newest = math.floor((last - 1) / {CHUNK})
local low = tonumber(h[4] or '0')
while low < newest and (low < math.floor((first - 1) / {CHUNK}) or bytes > maxb) do
  bytes = bytes - redis.call('HSTRLEN', KEYS[4], low) - redis.call('HSTRLEN', KEYS[5], low)
  redis.call('HDEL', KEYS[4], low)
  redis.call('HDEL', KEYS[5], low)
  low = low + 1
  first = math.max(first, low * {CHUNK} + 1)
end
redis.call('HSET', KEYS[3], 'v', 2, 'first', first, 'last', last, 'bytes', bytes, 'low', low)
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[6])
return {{last, redis.call('ZCARD', KEYS[2])}}
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
    max_bytes: int  # of sealed chunks and their indexes per conversation
    max_conversations: int  # per connection


@dataclass
class Page:
    """Our log's part of a history page (``tasks/history.py`` shapes the reply)."""

    items: list[dict[str, Any]]
    before: bool  # the log has older messages than these
    after: bool  # ... and newer ones
    found: bool  # the log has this conversation at all


@dataclass(frozen=True)
class Ref:
    """Where a recorded message is: its conversation's digest and seq."""

    conversation: str
    seq: int


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
        out += [name + part for part in (*PARTS, *OLD_PARTS)]
    return out


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value or "").encode("latin-1")


def _ms(activity: dict[str, Any]) -> int:
    return int((epoch(activity.get("published")) or time.time()) * 1000)


@dataclass
class _Group:
    """The messages of one batch for one conversation of one connection."""

    ckey: str
    cd: str
    key: bytes
    items: list[tuple[int, bytes, dict[str, Any], int, list[bytes]]]  # entry no, id, ...


class OwnLog:
    def __init__(self, platform: str, redis: Any, sealer: AtRest, bounds: Bounds):
        self.platform = platform
        self.redis = redis
        self.sealer = sealer
        self.bounds = bounds
        self._tail = redis.register_script(_TAIL)
        self._write = redis.register_script(_WRITE)
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

    def message_id(self, key: bytes, mid: str) -> bytes:
        return self.digest(key, "id", mid, ID_LEN)

    def word(self, key: bytes, word: str) -> bytes:
        return self.digest(key, "word", word, WORD_LEN)

    def prefix(self, ckey: str, conv_digest: str) -> str:
        return keys.log_conversation(self.platform, ckey, conv_digest)

    def _parts(self, ckey: str, cd: str) -> list[str]:
        return [self.prefix(ckey, cd) + part for part in PARTS]

    def _aad(self, ckey: str, cd: str, chunk: int) -> tuple[str, ...]:
        return ("log", self.platform, ckey, cd, str(chunk))

    # -- recording ---------------------------------------------------------------------------
    def record(self, entries: list[tuple[str, dict[str, Any], bool]]) -> list[Ref | None]:
        """Log ``(connection, activity, own)`` entries: messages of a conversation with an
        ``object.id`` (``logpages.stamp``); anything else is skipped (None). A message
        already logged (same id) is not logged twice. Returns where each one is (for one
        logged before, only if it is in the newest two chunks)."""
        out: list[Ref | None] = [None] * len(entries)
        if not self.enabled:
            return out
        groups: dict[tuple[str, str], _Group] = {}
        for n, (ckey, activity, own) in enumerate(entries):
            conv = conversation_of(activity, own)
            mid = str((activity.get("object") or {}).get("id") or "")
            if conv is None or not mid:
                continue
            key = self.log_key(ckey, create=True)
            if key is None:
                continue
            cd = self.conversation(key, conv)
            group = groups.setdefault((ckey, cd), _Group(ckey, cd, key, []))
            stored = {k: v for k, v in activity.items() if k != "@context"}
            content = str(activity["object"].get("content") or "")  # a link alone: none
            tags = [self.word(key, w) for w in words(content)]
            group.items.append((n, self.message_id(key, mid), stored, _ms(activity), tags))
        todo = list(groups.values())
        for _ in range(RETRIES):
            if not todo:
                break
            todo = self._append(todo, out)
        return out

    def _append(self, groups: list[_Group], out: list[Ref | None]) -> list[_Group]:
        """One read and one write per group, each in one pipeline; returns the groups that
        lost a race (to read again)."""
        pipe = self.redis.pipeline(transaction=False)
        for g in groups:
            self._tail(keys=self._parts(g.ckey, g.cd), args=[i[1] for i in g.items], client=pipe)
        writes = []
        for g, tail in zip(groups, pipe.execute(), strict=True):
            writes.append(self._build(g, [_raw(t) for t in tail], out))
        pipe = self.redis.pipeline(transaction=False)
        for ks, args in writes:
            self._write(keys=ks, args=args, client=pipe)
        lost, crowded = [], set()
        for g, (last, count) in zip(groups, pipe.execute(), strict=True):
            if int(last) == -2:
                lost.append(g)
            elif int(last) == -1:
                for item in g.items:
                    out[item[0]] = None
            elif int(count) > self.bounds.max_conversations:
                crowded.add(g.ckey)
        for ckey in crowded:
            self._evict(ckey)
        return lost

    def _build(self, g: _Group, tail: list[bytes], out: list[Ref | None]) -> tuple[list, list]:
        """The write of ``g``'s messages onto the tail read: its newest chunk rewritten
        with them, and new chunks past it."""
        version, first, last = tail[0], int(tail[1]), int(tail[2])
        if last and version != b"2":  # the first format: start over (pre-release)
            log.info("own log: a conversation of the first format dropped (%s)", g.cd[:8])
            self.redis.delete(*(self.prefix(g.ckey, g.cd) + p for p in (*PARTS, *OLD_PARTS)))
            first, last, tail = 1, 0, [b""] * 7
        read = last
        items: list[dict[str, Any]] = []
        index: list[tuple[bytes, int, list[bytes]]] = []
        start = last + 1
        chunks: dict[int, tuple[int, list, list]] = {}
        if last % CHUNK:  # the newest chunk has room: it is rewritten with the new ones
            lines = unpack_index(tail[4])
            opened = self._open(g.key, g.ckey, g.cd, chunk_of(last), tail[3]) or []
            if lines and len(lines) == len(opened):
                items, start = opened, lines[0].seq
                index = [(e.id, e.ms, sorted(e.words)) for e in lines]
            # else unreadable (tampered with, or a secret lost): it restarts with these
        seen = {e.id: e.seq for e in unpack_index(tail[5])}
        seen.update({mid: start + i for i, (mid, _ms, _w) in enumerate(index)})
        had = tail[6].ljust(len(g.items), b"0")
        for (n, mid, stored, ms, tags), old in zip(g.items, had[: len(g.items)], strict=True):
            if mid in seen:
                out[n] = Ref(g.cd, seen[mid])
                continue
            if old == ord("1"):  # an older one: logged once, where it was
                continue
            last += 1
            if last % CHUNK == 1 or not items:  # a new chunk (or a restarted one)
                items, index, start = [], [], last
            items.append(stored)
            index.append((mid, ms, tags))
            chunks[chunk_of(last)] = (start, items, index)  # the lists grow in place
            out[n] = Ref(g.cd, last)
            seen[mid] = last
        at_least = first
        written: list[Any] = []
        for number, (begin, its, idx) in sorted(chunks.items()):
            blob, lines_blob = self._seal(g, number, its, begin, idx)
            while len(its) > 1 and len(blob) + len(lines_blob) > self.bounds.max_bytes:
                drop = max(1, len(its) // 4)  # the chunk alone is over: its oldest go
                its, idx, begin = its[drop:], idx[drop:], begin + drop
                blob, lines_blob = self._seal(g, number, its, begin, idx)
                at_least = max(at_least, begin)
            written += [number, blob, lines_blob]
        args: list[Any] = [read, last, self.bounds.max_messages, self.bounds.max_bytes]
        args += [int(time.time() * 1000), g.cd, at_least, *written]
        ks = [keys.connection(self.platform, g.ckey), keys.log_conversations(self.platform, g.ckey)]
        return [*ks, *self._parts(g.ckey, g.cd)], args

    def _seal(self, g: _Group, number: int, items: list, start: int, index: list) -> tuple:
        blob = seal(g.key, pack(items), *self._aad(g.ckey, g.cd, number))
        return blob, pack_index(start, index)

    def _evict(self, ckey: str) -> None:
        """Past ``max_conversations``: the conversations quiet for longest go."""
        index = keys.log_conversations(self.platform, ckey)
        extra = self.redis.zcard(index) - self.bounds.max_conversations
        if extra <= 0:
            return
        old = [_text(c) for c in self.redis.zrange(index, 0, extra - 1)]
        pipe = self.redis.pipeline(transaction=False)
        for cd in old:
            pipe.delete(*(self.prefix(ckey, cd) + part for part in (*PARTS, *OLD_PARTS)))
        pipe.zrem(index, *old)
        pipe.execute()

    # -- reading -----------------------------------------------------------------------------
    def _open(self, key: bytes, ckey: str, cd: str, number: int, raw: Any) -> list | None:
        """A chunk's activities, or None if there is none or it does not open."""
        if not raw:
            return None
        try:
            return unpack(unseal(key, _raw(raw), *self._aad(ckey, cd, number)))
        except (SockethubError, ValueError):
            return None

    def messages(
        self, key: bytes, ckey: str, cd: str, seqs: list[int], first: int = 1
    ) -> dict[int, dict[str, Any]]:
        """The messages at ``seqs`` (from ``first`` on) that the log still has, each chunk
        fetched and opened once."""
        numbers = sorted({chunk_of(s) for s in seqs if s >= first})
        if not numbers:
            return {}
        prefix = self.prefix(ckey, cd)
        pipe = self.redis.pipeline(transaction=False)
        pipe.hmget(prefix + ":c", numbers)
        pipe.hmget(prefix + ":x", numbers)
        blobs, indexes = pipe.execute()
        found: dict[int, dict[str, Any]] = {}
        context = context_for(self.platform)
        for number, blob, idx in zip(numbers, blobs, indexes, strict=True):
            items = self._open(key, ckey, cd, number, blob)
            entries = unpack_index(_raw(idx))
            if items is None or len(items) != len(entries):
                continue
            for e, item in zip(entries, items, strict=True):
                found[e.seq] = {"@context": context, **item}
        wanted = set(seqs)
        return {s: i for s, i in found.items() if s in wanted and s >= first}

    def head(self, ckey: str, cd: str) -> tuple[int, int] | None:
        """``first``, ``last`` of a conversation of this format, or None."""
        v, first, last = self.redis.hmget(self.prefix(ckey, cd) + ":h", ["v", "first", "last"])
        if last is None or _raw(v) != b"2":
            return None
        return int(first or 1), int(last)

    def entries(self, ckey: str, cds: list[str]) -> dict[str, list[Entry]]:
        """Every index line of each conversation of ``cds`` (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for cd in cds:
            pipe.hmget(self.prefix(ckey, cd) + ":h", ["v", "first"])
            pipe.hvals(self.prefix(ckey, cd) + ":x")
        answers = pipe.execute()
        out: dict[str, list[Entry]] = {}
        for i, cd in enumerate(cds):
            (v, first), blobs = answers[2 * i], answers[2 * i + 1]
            if _raw(v) != b"2":
                continue
            low = int(first or 1)
            lines = [e for b in blobs for e in unpack_index(_raw(b)) if e.seq >= low]
            out[cd] = sorted(lines, key=lambda e: e.seq)
        return out

    def page(self, ckey: str, conv: str, kind: str, anchor: str | None, limit: int) -> Page:
        """Up to ``limit`` messages of ``conv``, oldest first: the newest (``kind`` none),
        or those ``before``/``after``/``around`` the message ``anchor``. Raises ``KeyError``
        when ``anchor`` is not in the log."""
        key = self.log_key(ckey)
        if key is None:
            return Page([], False, False, False)
        cd = self.conversation(key, conv)
        span = self.head(ckey, cd)
        if span is None:
            return Page([], False, False, False)
        first, last = span
        at = None
        if anchor is not None:
            wanted = self.message_id(key, anchor)
            lines = self.entries(ckey, [cd]).get(cd, [])
            at = next((e.seq for e in lines if e.id == wanted), None)
            if at is None:
                raise KeyError(anchor)
        lo, hi = window(first, last, at, kind, limit)
        if hi < lo:
            return Page([], lo > first, hi < last, True)
        found = self.messages(key, ckey, cd, list(range(lo, hi + 1)), first)
        return Page([found[s] for s in sorted(found)], lo > first, hi < last, True)

    def has(self, ckey: str, conv: str) -> bool:
        key = self.log_key(ckey)
        if key is None:
            return False
        index = keys.log_conversations(self.platform, ckey)
        return self.redis.zscore(index, self.conversation(key, conv)) is not None
