"""Uploads through the gateway (XMPP HTTP upload, XEP-0363): the Redis half, shared by
the worker that obtains the slot, the gateway that takes the browser's bytes and the
worker that sends them on. The browser never talks to the upload server.

1. The worker holding the session's connection gets a slot from the server and
   ``offer``s it: a record under the SHA-256 of a fresh token, the slot sealed under the
   session key. Only the session's reply carries the token.
2. The browser PUTs the file to ``/sockethub-upload/<token>`` naming its session. The
   gateway ``claim``s the record, once (``ready`` → ``receiving``, in one script: a
   second PUT of the token, another session's PUT, one after ``expires`` are refused),
   and ``Receiver`` writes the bytes as they stream in, sealed chunk by chunk, counting
   them: one byte over the size the slot was made for ends it, whatever Content-Length
   said.
3. Once all are in (``received``) the gateway hands a task to the platform's workers;
   one ``open``s the slot and the chunks, PUTs the file to the slot URL and ``finish``es,
   which deletes the chunks and the slot and leaves the sealed answer for the gateway,
   which ``wait``s for it and answers the browser.

Nothing of a file, its slot (its URLs, the server's ``Authorization``) or its name is
clear in Redis; sizes, states and session ids are (scripts need them). Every key expires
``ttl`` plus the worker's time after the offer.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from . import keys
from .atrest import AtRest, seal, unseal
from .errors import NotFound, RateLimited, Refused, SockethubError, TooLarge, UpstreamTimeout

__all__ = [
    "CHUNK_BYTES",
    "MAX_BYTES_CAP",
    "TTL_CAP",
    "TIMEOUT_CAP",
    "PER_SESSION_CAP",
    "UPLOAD_TASK",
    "Claimed",
    "Offers",
    "MemoryOffers",
    "Receiver",
    "UploadRefused",
    "Uploads",
    "digest_of",
    "token_ok",
]

CHUNK_BYTES = 256 * 1024  # one sealed list entry
MAX_BYTES_CAP = 100 * 1024 * 1024  # SOCKETHUB_UPLOAD_MAX_BYTES above this is taken as this
TTL_CAP = 600.0
TIMEOUT_CAP = 900.0
PER_SESSION_CAP = 64
UPLOAD_TASK = "sockethub.upload"  # the worker's task that sends a received file on
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")  # token_urlsafe(32)

# KEYS: the record. ARGV: the presenting session, now. Refusals leave the record as it
# was: another session's attempt cannot use up the owner's token.
_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local r = redis.call('HMGET', KEYS[1], 'sid', 'state', 'expires', 'size')
if r[1] ~= ARGV[1] then return -2 end
if r[2] ~= 'ready' then return -3 end
if tonumber(r[3]) < tonumber(ARGV[2]) then return -4 end
redis.call('HSET', KEYS[1], 'state', 'receiving')
return tonumber(r[4])
"""


# KEYS: the session's uploads, the record. ARGV: now, when this one stops counting, its
# digest, the most a session may have, the keys' lifetime, then the record's fields.
_OFFER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('HSET', KEYS[2], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[2], ARGV[5])
return 1
"""


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_ok(token: str) -> bool:
    return bool(_TOKEN.fullmatch(token))


class UploadRefused(Exception):
    """A PUT the gateway refuses: the HTTP ``status``, the error, and a short ``reason``
    (``unknown``, ``other-session``, ``used``, ``expired``) for programs."""

    def __init__(self, status: int, error: SockethubError, reason: str):
        super().__init__(error.message)
        self.status, self.error, self.reason = status, error, reason


_REFUSALS = {
    -1: (404, NotFound, "unknown", "no such upload: the token is wrong or long expired"),
    -2: (403, Refused, "other-session", "this upload URL belongs to another session"),
    -3: (409, Refused, "used", "this upload URL was used already (one upload each)"),
    -4: (410, Refused, "expired", "this upload URL has expired (SOCKETHUB_UPLOAD_TTL)"),
}


class Offers(Protocol):
    """What a connector needs: make a slot uploadable by one session, for a while."""

    def offer(self, sid: str, platform: str, size: int, slot: dict[str, Any]) -> tuple[str, float]:
        """The token and the time (epoch seconds) it stops being accepted."""
        ...


class MemoryOffers:
    """The in-memory twin, for connector tests: remembers what was offered."""

    def __init__(self) -> None:
        self.offered: dict[str, tuple[str, str, int, dict[str, Any]]] = {}

    def offer(self, sid: str, platform: str, size: int, slot: dict[str, Any]) -> tuple[str, float]:
        token = secrets.token_urlsafe(32)
        self.offered[token] = (sid, platform, size, slot)
        return token, time.time() + 60


@dataclass(frozen=True)
class Claimed:
    digest: str
    sid: str
    size: int
    platform: str = ""


class Uploads:
    """The Redis store; one per process (gateway or worker)."""

    def __init__(
        self,
        redis: Any,
        atrest: AtRest,
        ttl: float,
        timeout: float,
        clock: Callable[[], float] = time.time,
        per_session: int = 4,
    ):
        self.redis, self.atrest = redis, atrest
        self.ttl, self.timeout = min(ttl, TTL_CAP), min(timeout, TIMEOUT_CAP)
        self.per_session = max(1, min(per_session, PER_SESSION_CAP))
        self.clock = clock
        self._claim = redis.register_script(_CLAIM)
        self._offer = redis.register_script(_OFFER)

    @property
    def lifetime(self) -> int:
        """Seconds every key of an upload lives: the token's time, the worker's, a margin."""
        return int(self.ttl + self.timeout + 60)

    def _seal(self, sid: str, digest: str, what: str, data: bytes) -> bytes:
        return seal(self.atrest.session_key(sid), data, what, sid, digest)

    def _open(self, sid: str, digest: str, what: str, sealed: bytes) -> bytes:
        return unseal(self.atrest.session_key(sid), sealed, what, sid, digest)

    # -- the worker with the connection --------------------------------------------------
    def offer(self, sid: str, platform: str, size: int, slot: dict[str, Any]) -> tuple[str, float]:
        token = secrets.token_urlsafe(32)
        digest, expires = digest_of(token), self.clock() + self.ttl
        slot_json = json.dumps(slot, separators=(",", ":")).encode()
        record = {
            "sid": sid,
            "platform": platform,
            "size": size,
            "state": "ready",
            "expires": f"{expires:.3f}",
            "slot": self._seal(sid, digest, "upload-slot", slot_json),
        }
        # It counts until it is sent on or cannot be any more: expired unused, or sent.
        counts_until = expires + self.timeout
        pairs = [x for k, v in record.items() for x in (k, v)]
        args = [f"{self.clock():.3f}", f"{counts_until:.3f}", digest, self.per_session]
        done = self._offer(
            keys=[keys.upload_session(sid), keys.upload(digest)],
            args=[*args, self.lifetime, *pairs],
        )
        if not done:
            raise RateLimited(
                f"this session has {self.per_session} uploads under way already "
                "(SOCKETHUB_UPLOAD_MAX_PER_SESSION); send one of them, or wait for it "
                "to expire"
            )
        return token, expires

    # -- the gateway -----------------------------------------------------------------------
    def claim(self, token: str, sid: str) -> Claimed:
        """The upload ``token`` names, now ``receiving``; ``UploadRefused`` if it cannot be."""
        digest = digest_of(token) if token_ok(token) else "-"
        got = int(self._claim(keys=[keys.upload(digest)], args=[sid, f"{self.clock():.3f}"]))
        if got < 0:
            status, cls, reason, text = _REFUSALS[got]
            raise UploadRefused(status, cls(f"{text}; ask for a new upload"), reason)
        platform = self.redis.hget(keys.upload(digest), "platform")
        name = platform.decode() if isinstance(platform, bytes) else str(platform or "")
        return Claimed(digest, sid, got, name)

    def receiver(self, claimed: Claimed) -> Receiver:
        return Receiver(self, claimed)

    def write(self, claimed: Claimed, index: int, data: bytes) -> None:
        sealed = self._seal(claimed.sid, claimed.digest, f"upload-chunk-{index}", data)
        pipe = self.redis.pipeline()
        pipe.rpush(keys.upload_data(claimed.digest), sealed)
        pipe.expire(keys.upload_data(claimed.digest), self.lifetime)
        pipe.execute()

    def mark(self, claimed: Claimed, state: str) -> None:
        self.redis.hset(keys.upload(claimed.digest), "state", state)

    def discard(self, claimed: Claimed) -> None:
        """A body refused half-way: its chunks and slot go now, the token stays used."""
        pipe = self.redis.pipeline()
        pipe.delete(keys.upload_data(claimed.digest))
        pipe.hdel(keys.upload(claimed.digest), "slot")
        pipe.hset(keys.upload(claimed.digest), "state", "failed")
        pipe.zrem(keys.upload_session(claimed.sid), claimed.digest)
        pipe.execute()

    def wait(self, claimed: Claimed, timeout: float) -> dict[str, Any]:
        """The worker's answer: ``{"status": "completed", "object"}`` or ``{"status":
        "failed", "error"}``; ``UpstreamTimeout`` if none comes in ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        got = None
        while got is None:
            if time.monotonic() >= deadline:
                raise UpstreamTimeout(f"the upload was not sent on within {timeout:.0f} s")
            # One second at a time: a longer BLPOP would outlast the client's socket
            # timeout (SOCKETHUB_REDIS_TIMEOUT) and fail as if Redis were gone.
            got = self.redis.blpop([keys.upload_done(claimed.digest)], timeout=1)
        self.redis.delete(keys.upload_done(claimed.digest))
        return dict(json.loads(self._open(claimed.sid, claimed.digest, "upload-done", got[1])))

    # -- the worker that sends it on -------------------------------------------------------------
    def open(self, digest: str, sid: str) -> tuple[Claimed, dict[str, Any]]:
        """The received upload and its slot."""
        record = self.redis.hgetall(keys.upload(digest))
        state, owner = record.get(b"state"), record.get(b"sid", b"").decode()
        if state != b"received" or owner != sid or b"slot" not in record:
            raise NotFound("the upload is gone (expired, or sent already)")
        slot = json.loads(self._open(sid, digest, "upload-slot", record[b"slot"]))
        return Claimed(digest, sid, int(record[b"size"]), record[b"platform"].decode()), slot

    def read(self, claimed: Claimed) -> bytes:
        chunks = self.redis.lrange(keys.upload_data(claimed.digest), 0, -1)
        body = b"".join(
            self._open(claimed.sid, claimed.digest, f"upload-chunk-{i}", c)
            for i, c in enumerate(chunks)
        )
        if len(body) != claimed.size:  # a chunk expired or went missing
            raise NotFound("the upload's bytes are gone from Redis (expired?)")
        return body

    def finish(self, claimed: Claimed, answer: dict[str, Any]) -> None:
        sealed = self._seal(claimed.sid, claimed.digest, "upload-done", json.dumps(answer).encode())
        pipe = self.redis.pipeline()
        pipe.delete(keys.upload_data(claimed.digest))
        pipe.hdel(keys.upload(claimed.digest), "slot")
        pipe.hset(keys.upload(claimed.digest), "state", "done")
        pipe.rpush(keys.upload_done(claimed.digest), sealed)
        pipe.expire(keys.upload_done(claimed.digest), self.lifetime)
        pipe.zrem(keys.upload_session(claimed.sid), claimed.digest)
        pipe.execute()


class Receiver:
    """The bytes of one PUT, into Redis as they arrive, in sealed chunks of
    ``CHUNK_BYTES``; counted as they come, so a body over the slot's size is refused at
    the first byte too many, whatever its Content-Length said."""

    def __init__(self, store: Uploads, claimed: Claimed):
        self.store, self.claimed = store, claimed
        self.received = 0
        self._buffer = bytearray()
        self._index = 0

    def feed(self, data: bytes) -> None:
        self.received += len(data)
        if self.received > self.claimed.size:
            raise TooLarge(
                f"the body is larger than the {self.claimed.size} bytes this upload was "
                "requested for; ask for an upload of the file's real size"
            )
        self._buffer += data
        while len(self._buffer) >= CHUNK_BYTES:
            self._flush(CHUNK_BYTES)

    def _flush(self, n: int) -> None:
        self.store.write(self.claimed, self._index, bytes(self._buffer[:n]))
        del self._buffer[:n]
        self._index += 1

    def close(self) -> None:
        if self.received != self.claimed.size:
            raise Refused(
                f"the body ended after {self.received} of the {self.claimed.size} bytes "
                "this upload was requested for"
            )
        if self._buffer:
            self._flush(len(self._buffer))
        self.store.mark(self.claimed, "received")
