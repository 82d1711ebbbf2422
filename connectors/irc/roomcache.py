"""Where IRC channel lists are kept: in Redis, shared by every session and worker.

A server's list (``rooms.Snapshot``) is fetched once and kept ``SOCKETHUB_IRC_LIST_TTL``
seconds for everyone on that server: a hash with the ``version`` in clear (so a process
that has that version parsed already does not fetch the blob) and the list as JSON,
zlib-compressed and sealed (``envelopes.atrest.seal``, a key derived from the server
secret, bound to the server's name): topics are what people wrote, and a copy of Redis
reveals none of them. Its size is bounded by ``SOCKETHUB_IRC_LIST_MAX_CHANNELS`` and
``_MAX_BYTES`` when collected.

One LIST runs per server at a time, whoever asks: a lease (``SET NX PX``,
``LEASE_SECONDS``) names who fetches; the others wait for the list to appear. The holder
renews it while the LIST goes on, with the count of channels so far (``progress``, what
the others answer meanwhile). It is released when the fetch ends, failed or not, and
lapses by itself within ``LEASE_SECONDS`` if its holder died.

``MemoryRoomCache`` is the in-memory twin (one process, no sealing), for tests and tools.
Blocking (Redis round trips): call from task threads or ``asyncio.to_thread``, never on
the loop.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
import zlib
from collections import OrderedDict
from typing import Any, Protocol

import nacl.encoding
import nacl.hash

from envelopes import keys as redis_keys
from envelopes.atrest import seal, unseal
from envelopes.errors import SockethubError

from .rooms import Snapshot

__all__ = ["LEASE_SECONDS", "MemoryRoomCache", "RedisRoomCache", "RoomCache", "server_name"]

LEASE_SECONDS = 60.0  # a LIST's lease lapses this long after its last renewal
_MEMO = 4  # parsed lists a process keeps, newest used first

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1], KEYS[2]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[2])
  return 1
end
return 0
"""


def server_name(host: str, port: int) -> str:
    """Which lists are one: the host (as the browser named it, folded) and the port."""
    return f"{host.lower().rstrip('.')}:{port}"


class RoomCache(Protocol):
    def get(self, server: str) -> Snapshot | None: ...

    def put(self, server: str, snap: Snapshot, ttl: float) -> None: ...

    def lease(self, server: str) -> str | None:
        """A token when this caller may run the LIST, None while another one runs."""
        ...

    def release(self, server: str, token: str) -> None: ...

    def renew(self, server: str, token: str, seen: int) -> None:
        """The holder of ``token`` is still at it, with ``seen`` channels so far."""
        ...

    def progress(self, server: str) -> int | None:
        """Channels the LIST in progress has received so far, when one runs."""
        ...


class _Memo:
    """Parsed snapshots by (server, version): a warm list costs no unsealing or parsing."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[str, int], Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, server: str, version: int) -> Snapshot | None:
        with self._lock:
            snap = self._items.get((server, version))
            if snap is not None:
                self._items.move_to_end((server, version))
            return snap

    def put(self, server: str, snap: Snapshot) -> None:
        with self._lock:
            self._items[(server, snap.version)] = snap
            while len(self._items) > _MEMO:
                self._items.popitem(last=False)


class MemoryRoomCache:
    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._lists: dict[str, tuple[float, Snapshot]] = {}
        self._leases: dict[str, tuple[float, str]] = {}
        self._progress: dict[str, int] = {}
        self._lock = threading.Lock()

    def get(self, server: str) -> Snapshot | None:
        with self._lock:
            found = self._lists.get(server)
            if found is None or found[0] <= self._clock():
                return None
            return found[1]

    def put(self, server: str, snap: Snapshot, ttl: float) -> None:
        with self._lock:
            self._lists[server] = (self._clock() + ttl, snap)

    def lease(self, server: str) -> str | None:
        with self._lock:
            held = self._leases.get(server)
            if held is not None and held[0] > self._clock():
                return None
            token = secrets.token_hex(8)
            self._leases[server] = (self._clock() + LEASE_SECONDS, token)
            return token

    def release(self, server: str, token: str) -> None:
        with self._lock:
            if self._leases.get(server, (0, ""))[1] == token:
                del self._leases[server]
                self._progress.pop(server, None)

    def renew(self, server: str, token: str, seen: int) -> None:
        with self._lock:
            if self._leases.get(server, (0, ""))[1] == token:
                self._leases[server] = (self._clock() + LEASE_SECONDS, token)
                self._progress[server] = seen

    def progress(self, server: str) -> int | None:
        with self._lock:
            held = self._leases.get(server)
            if held is None or held[0] <= self._clock():
                return None
            return self._progress.get(server, 0)


class RedisRoomCache:
    def __init__(self, redis: Any, secret: str) -> None:
        self.redis = redis
        self._key = nacl.hash.blake2b(
            secret.encode(),
            digest_size=32,
            person=b"sockethub-irclst",
            encoder=nacl.encoding.RawEncoder,
        )
        self._memo = _Memo()
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)

    @staticmethod
    def _prefix(server: str) -> str:
        return redis_keys.irc_list(hashlib.sha256(server.encode()).hexdigest()[:40])

    def get(self, server: str) -> Snapshot | None:
        key = f"{self._prefix(server)}:s"
        raw = self.redis.hget(key, "v")
        if raw is None:
            return None
        version = int(raw)
        snap = self._memo.get(server, version)
        if snap is not None:
            return snap
        sealed = self.redis.hget(key, "s")
        if sealed is None:
            return None
        try:
            data = zlib.decompress(unseal(self._key, bytes(sealed), "irc-list", server))
            snap = Snapshot.from_json(json.loads(data))
        except (SockethubError, zlib.error, ValueError, KeyError, TypeError):
            return None  # sealed under another secret, or damaged: fetch it again
        self._memo.put(server, snap)
        return snap

    def put(self, server: str, snap: Snapshot, ttl: float) -> None:
        blob = zlib.compress(json.dumps(snap.to_json(), separators=(",", ":")).encode())
        sealed = seal(self._key, blob, "irc-list", server)
        key = f"{self._prefix(server)}:s"
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={"v": str(snap.version), "s": sealed})
        pipe.pexpire(key, max(1, int(ttl * 1000)))
        pipe.execute()
        self._memo.put(server, snap)

    def lease(self, server: str) -> str | None:
        token = secrets.token_hex(8)
        ok = self.redis.set(
            f"{self._prefix(server)}:l", token, nx=True, px=int(LEASE_SECONDS * 1000)
        )
        return token if ok else None

    def release(self, server: str, token: str) -> None:
        prefix = self._prefix(server)
        self._release(keys=[f"{prefix}:l", f"{prefix}:p"], args=[token])

    def renew(self, server: str, token: str, seen: int) -> None:
        prefix = self._prefix(server)
        ms = int(LEASE_SECONDS * 1000)
        self._renew(keys=[f"{prefix}:l", f"{prefix}:p"], args=[token, ms, seen])

    def progress(self, server: str) -> int | None:
        raw = self.redis.get(f"{self._prefix(server)}:p")
        if raw is not None:
            return int(raw)
        return 0 if self.redis.exists(f"{self._prefix(server)}:l") else None
