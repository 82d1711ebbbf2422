"""Idempotent HTTP actions: the answer kept by request id, bounded and sealed at rest.

Sockethub's rule (``http/actions.ts``): the first call with a request id claims it
(``SET NX``); every line of its answer is kept in order; once the answer is complete, a
POST or GET of the same id replays it, body ignored, and a POST while it still runs is
refused (409). Here, as everywhere in Redis (``envelopes.atrest``), what is kept is
sealed: each line under a key derived from the server secret, bound to the request id
and its place in the answer, so a copy of Redis reads no answer, and a line moved to
another id or place does not open.

Bounded: the claim lives ``running_ttl`` (the call's own time limit and a margin: a
gateway that died mid-call frees the id soon), the kept answer ``SOCKETHUB_HTTP_REPLAY_TTL``
seconds, and at most ``SOCKETHUB_HTTP_REPLAY_MAX_BYTES`` of it; past that the kept answer
ends with a line saying it was cut.
"""

from __future__ import annotations

import json
from typing import Any

import nacl.encoding
import nacl.hash
import nacl.secret

from envelopes import keys
from envelopes.atrest import seal, unseal
from envelopes.errors import SockethubError
from envelopes.sealing import Keyring

from .httpbody import error_line

__all__ = ["ReplayStore", "Recorder", "NEW", "RUNNING", "COMPLETE"]

NEW, RUNNING, COMPLETE = "new", "p", "c"

# Claim the id, or say what it is: "new", "p" (running) or "c" (complete).
# KEYS: status. ARGV: running ttl in ms.
_CLAIM = """
if redis.call('SET', KEYS[1], 'p', 'NX', 'PX', ARGV[1]) then return 'new' end
return redis.call('GET', KEYS[1])
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class ReplayStore:
    def __init__(
        self, redis: Any, keyring: Keyring, ttl: float, max_bytes: int, running_ttl: float
    ):
        self.redis = redis
        self.ttl_ms = max(1000, int(ttl * 1000))
        self.running_ms = max(1000, int(running_ttl * 1000))
        self.max_bytes = max_bytes
        self._keys = [self._key(server) for server in (keyring.current, *keyring.previous)]
        self._claim = redis.register_script(_CLAIM)

    @staticmethod
    def _key(server: bytes) -> bytes:
        return nacl.hash.blake2b(
            b"http-actions",
            key=server,
            digest_size=nacl.secret.Aead.KEY_SIZE,
            person=b"sockethub-replay",
            encoder=nacl.encoding.RawEncoder,
        )

    def claim(self, rid: str) -> str:
        """``NEW`` (the id is this call's now), ``RUNNING`` or ``COMPLETE``."""
        return _text(self._claim(keys=[keys.http_action(rid)], args=[self.running_ms]))

    def status(self, rid: str) -> str | None:
        value = self.redis.get(keys.http_action(rid))
        return None if value is None else _text(value)

    def recorder(self, rid: str) -> Recorder:
        return Recorder(self, rid)

    def lines(self, rid: str) -> list[str]:
        """The kept answer, in order; a line that does not open (the secret changed
        without the old one kept) is replaced by a line saying so."""
        out = []
        for index, sealed in enumerate(self.redis.lrange(keys.http_action_lines(rid), 0, -1)):
            out.append(self.open(rid, index, sealed))
        return out

    # -- sealing -----------------------------------------------------------------------
    def seal(self, rid: str, index: int, line: str) -> bytes:
        return seal(self._keys[0], line.encode(), "replay", rid, str(index))

    def open(self, rid: str, index: int, sealed: bytes) -> str:
        for key in self._keys:
            try:
                return unseal(key, sealed, "replay", rid, str(index)).decode()
            except SockethubError:
                continue
        return json.dumps(error_line("this line of the kept answer cannot be opened", rid))


class Recorder:
    """Keeps one call's answer as it is written; ``complete`` makes it replayable."""

    def __init__(self, store: ReplayStore, rid: str):
        self.store = store
        self.rid = rid
        self._count = 0
        self._bytes = 0
        self._cut = False

    def add(self, line: str) -> None:
        if self._cut:
            return
        size = len(line.encode())
        if self._bytes + size > self.store.max_bytes:
            self._cut = True
            line = json.dumps(
                error_line(
                    f"the kept answer was cut here: it is over {self.store.max_bytes} bytes "
                    "(SOCKETHUB_HTTP_REPLAY_MAX_BYTES); the live answer had every line",
                    self.rid,
                )
            )
        self._bytes += size
        sealed = self.store.seal(self.rid, self._count, line)
        self._count += 1
        lines = keys.http_action_lines(self.rid)
        pipe = self.store.redis.pipeline(transaction=False)
        pipe.rpush(lines, sealed)
        pipe.pexpire(lines, self.store.running_ms)
        pipe.execute()

    def complete(self) -> None:
        pipe = self.store.redis.pipeline(transaction=True)
        pipe.set(keys.http_action(self.rid), COMPLETE, px=self.store.ttl_ms)
        pipe.pexpire(keys.http_action_lines(self.rid), self.store.ttl_ms)
        pipe.execute()
