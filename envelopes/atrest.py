"""What Redis holds of a conversation, sealed: a copy of Redis reveals none of it.

Everything that carries a session's activities is sealed under that session's own key
(``envelopes.sealing``), with associated data naming what it is and whose it is, so a
sealed value copied to another session, request or purpose does not open:

    stream entry ``f``    frame JSON           "frame", sid
    request marker        ``a`` + activity     "marker", sid, rid   (the state stays clear)
    Celery task payload   ``sealed`` activity  "task", sid, rid, verb
    connection record     the actor JSON       "record", platform, connection key
    own log message       the send activity    "log", platform, connection key, conversation

Events of a connection shared by several sessions are sealed per session as they are
fanned out: the stream they land in is that session's, and they die with its key. The
connection record is the one thing not tied to a session (a surviving worker reads it to
take a connection over), so it is sealed under a key derived from the server secret and
the connection's key. The own log of a connection's conversations (``tasks/ownlog.py``) is
sealed under a random key of that connection, stored in its record wrapped like a session
key (``wrap_log_key``): the log dies with the record. Ids (of sessions and requests, and
of actors and rooms where Redis lookups go by them), sequence numbers, deadlines, verbs
and queue names stay clear: Redis scripts and routing need them, and they say nothing of
what was said.

Unwrapping a session key costs an ``HGET`` and a decrypt; fan-out seals one event for
many sessions, so unwrapped keys are kept in each process for ``KEY_CACHE_SECONDS``. The
key stops being usable that soon after its session's keys expire in Redis.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.secret

from .errors import SockethubError
from .sealing import Keyring
from .vault import Vault

__all__ = ["AtRest", "seal", "unseal", "KEY_CACHE_SECONDS", "KEY_CACHE_MAX"]

log = logging.getLogger("sockethub.atrest")

KEY_CACHE_SECONDS = 5.0  # short: an ended session's key must not stay usable for long
KEY_CACHE_MAX = 20_000  # sessions whose keys one process keeps unwrapped at most
_SEP = "\x1f"  # unit separator: cannot occur in validated ids


def _aad(*parts: str) -> bytes:
    return _SEP.join(parts).encode()


def seal(key: bytes, data: bytes, *context: str) -> bytes:
    """AEAD-seal ``data``; ``context`` (purpose and ids) must match to open it again."""
    return bytes(nacl.secret.Aead(key).encrypt(data, _aad(*context)))


def unseal(key: bytes, sealed: bytes, *context: str) -> bytes:
    try:
        return nacl.secret.Aead(key).decrypt(sealed, _aad(*context))
    except (nacl.exceptions.CryptoError, ValueError, TypeError):
        # Tampered with, moved, or sealed under another secret: an internal error, not
        # the browser's.
        raise SockethubError(f"a sealed {context[0]} in Redis cannot be opened") from None


def _json(value: Any) -> bytes:
    # ASCII JSON: always encodable, even a lone surrogate escaped by the browser
    return json.dumps(value, separators=(",", ":")).encode()


def _bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode("latin-1")


class AtRest:
    """One per process: seals and opens what Redis holds of conversations."""

    def __init__(
        self,
        redis: Any,
        server_keys: bytes | Keyring,
        ttl: float = KEY_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._keyring = Keyring.of(server_keys)
        self._vault = Vault(redis, self._keyring)
        self._ttl = ttl
        self._clock = clock
        self._keys: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    # -- keys ------------------------------------------------------------------------
    def session_key(self, sid: str) -> bytes:
        """The session's unwrapped key; ``SessionError`` once the session has ended."""
        now = self._clock()
        with self._lock:
            cached = self._keys.get(sid)
        if cached is not None and cached[1] > now:
            return cached[0]
        key = self._vault.session_key(sid)
        with self._lock:
            if len(self._keys) >= KEY_CACHE_MAX:
                self._prune(now)
            self._keys.pop(sid, None)  # re-inserted last: the order is by freshness
            self._keys[sid] = (key, now + self._ttl)
        return key

    def _prune(self, now: float) -> None:
        self._keys = {s: kv for s, kv in self._keys.items() if kv[1] > now}
        if len(self._keys) >= KEY_CACHE_MAX:  # all fresh: drop the older half
            self._keys = dict(list(self._keys.items())[KEY_CACHE_MAX // 2 :])

    def _record_key(self, platform: str, ckey: str, server: bytes | None = None) -> bytes:
        return nacl.hash.blake2b(
            _aad(platform, ckey),
            key=server or self._keyring.current,
            digest_size=nacl.secret.Aead.KEY_SIZE,
            person=b"sockethub-record",
            encoder=nacl.encoding.RawEncoder,
        )

    # -- stream entries -----------------------------------------------------------------
    def seal_frame(self, sid: str, frame_json: str) -> bytes:
        return seal(self.session_key(sid), frame_json.encode(), "frame", sid)

    def open_frame(self, sid: str, sealed: bytes | str) -> str | None:
        """The frame's JSON, or None (logged) if it cannot be opened: that frame is lost,
        the socket carries on."""
        try:
            return unseal(self.session_key(sid), _bytes(sealed), "frame", sid).decode()
        except SockethubError as exc:
            log.error("session %s: frame skipped: %s", sid, exc.message)
            return None

    # -- request markers ----------------------------------------------------------------
    def marker(self, sid: str, rid: str, activity: dict[str, Any]) -> bytes:
        """``a`` (accepted, not yet sent: ``envelopes.markers``) and the sealed activity."""
        return b"a" + seal(self.session_key(sid), _json(activity), "marker", sid, rid)

    def open_marker(self, sid: str, rid: str, raw: bytes | str | None) -> dict[str, Any] | None:
        """The activity of a request in flight (``a``, ``p`` or ``r``), or None if there
        is none to echo."""
        if not raw or _bytes(raw)[:1] not in (b"a", b"p", b"r"):
            return None
        try:
            value = json.loads(unseal(self.session_key(sid), _bytes(raw)[1:], "marker", sid, rid))
        except (SockethubError, ValueError):
            return None
        return value if isinstance(value, dict) else None

    # -- Celery task payloads ---------------------------------------------------------------
    def seal_task(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with its activity sealed; routing fields stay as they are."""
        clear = dict(payload)
        activity = clear.pop("activity")
        sid, rid, verb = clear["session"], clear["request"], clear["verb"]
        sealed = seal(self.session_key(sid), _json(activity), "task", sid, rid, verb)
        clear["sealed"] = base64.urlsafe_b64encode(sealed).decode()
        return clear

    def open_task(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The payload with its activity opened; ``SessionError`` once the session has
        ended, ``SockethubError`` if it does not open."""
        opened = dict(payload)
        try:
            sealed = base64.urlsafe_b64decode(opened.pop("sealed"))
        except (KeyError, ValueError, TypeError):
            raise SockethubError("a task payload without a sealed activity") from None
        sid, rid, verb = str(opened["session"]), str(opened["request"]), str(opened["verb"])
        opened["activity"] = json.loads(
            unseal(self.session_key(sid), sealed, "task", sid, rid, verb)
        )
        return opened

    # -- connection records -------------------------------------------------------------------
    def seal_record(self, platform: str, ckey: str, value: Any) -> bytes:
        return seal(self._record_key(platform, ckey), _json(value), "record", platform, ckey)

    def reseal_record(self, platform: str, ckey: str, sealed: bytes | str) -> bytes | None:
        """``sealed`` under the current secret if an earlier one sealed it, else None (it
        is current already). Raises if no secret opens it."""
        if not self._keyring.previous:
            return None
        try:
            unseal(self._record_key(platform, ckey), _bytes(sealed), "record", platform, ckey)
            return None
        except SockethubError:
            pass
        return self.seal_record(platform, ckey, self.open_record(platform, ckey, sealed))

    def open_record(self, platform: str, ckey: str, sealed: bytes | str) -> Any:
        """Sealed under the current secret, or (during a rotation) an earlier one."""
        servers = (self._keyring.current, *self._keyring.previous)
        for server in servers[:-1]:
            try:
                key = self._record_key(platform, ckey, server)
                return json.loads(unseal(key, _bytes(sealed), "record", platform, ckey))
            except SockethubError:
                continue
        key = self._record_key(platform, ckey, servers[-1])
        return json.loads(unseal(key, _bytes(sealed), "record", platform, ckey))

    # -- own log keys (tasks/ownlog.py) ----------------------------------------------------
    def wrap_log_key(self, platform: str, ckey: str, key: bytes) -> bytes:
        """A connection's log key, wrapped under the current server key, bound to it."""
        return self._keyring.wrap(key, _SEP.join(("log", platform, ckey)))

    def unwrap_log_key(self, platform: str, ckey: str, wrapped: bytes | str) -> tuple[bytes, bool]:
        """The log key, and whether an earlier secret wrapped it (rewrap it then)."""
        return self._keyring.unwrap(_bytes(wrapped), _SEP.join(("log", platform, ckey)))
