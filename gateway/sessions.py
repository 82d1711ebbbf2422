"""Sessions: a random id, a per-session key (stored wrapped), a resume token.

While a browser is attached, the session's keys are refreshed by its gateway's heartbeat;
once detached they live ``resume_grace`` seconds more (``keep`` seconds for a kept
session, ``gateway.kept``), then Redis deletes them, and with them the wrapped key:
whatever was sealed under it is unreadable from then on. ``end`` deletes them at once.

The hash's ``att`` field says whether a socket is attached: ``1`` on create and on every
resume, ``0`` on detach when the detaching socket's generation is still the current one
(a worker reads it to decide whether a message calls for a Web Push).

Every resume replaces the token (the welcome carries the new one; the old one opens
nothing from then on), so a token seen once, in a log or a copied hello, is worth nothing
after the browser's next resume. A resume also rewraps a session key that only an
earlier server secret opens (``SOCKETHUB_SECRET_PREVIOUS``).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

from envelopes import keys, sealing
from envelopes.errors import KeepRefused, SessionError, SockethubError
from envelopes.vault import Vault

from .kept import KeptSessions, requested_keep

__all__ = ["Session", "SessionStore", "ATTACHED_TTL"]

ATTACHED_TTL = 120  # seconds; refreshed every HEARTBEAT by the attached gateway
HEARTBEAT = 20
# What ``create`` makes (token_urlsafe), with room to spare; anything else never reaches
# a key name (``sid:out`` would name the session's stream, and Redis would fail the read).
_SID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_TOKEN_MAX = 128

# Take the session over if the presented token is still the current one, and put the new
# token (and the key rewrapped under the current secret, if it was) in its place: two
# resumes with the same token cannot both succeed. The digests compared are SHA-256 of
# 256-bit random tokens, so a timing difference reveals nothing usable.
# KEYS: session hash. ARGV: presented digest, new digest, gateway id, rewrapped key or "".
_TAKE_OVER = """
if redis.call('HGET', KEYS[1], 'tok') ~= ARGV[1] then return -1 end
redis.call('HSET', KEYS[1], 'tok', ARGV[2], 'gw', ARGV[3], 'att', '1')
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'wkey', ARGV[4]) end
return redis.call('HINCRBY', KEYS[1], 'gen', 1)
"""

# The socket of generation ARGV[1] went away: unless another socket has resumed the session
# since (a newer gen), it is detached now (``att`` 0: the worker may push to its browser).
# KEYS: session hash. ARGV: gen.
_DETACH = """
if redis.call('HGET', KEYS[1], 'gen') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'att', '0')
return 1
"""


@dataclass
class Session:
    sid: str
    token: str
    gen: int
    resumed: bool = False
    keep: int = 0  # seconds of absence the session is kept for (0: the resume grace)
    keep_addr: str = ""  # the client address its keep is counted against
    keep_refused: dict[str, Any] | None = None  # why ``hello.keep`` was not granted


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("latin-1")


def _session_keys(sid: str) -> list[str]:
    return [
        keys.session(sid),
        keys.session_creds(sid),
        keys.session_stream(sid),
        keys.session_seq(sid),
        keys.session_push(sid),
    ]


class SessionStore:
    def __init__(
        self,
        redis: Any,
        server_keys: bytes | sealing.Keyring,
        resume_grace: float,
        kept: KeptSessions | None = None,
    ):
        self._redis = redis
        self._keys = sealing.Keyring.of(server_keys)
        self._vault = Vault(redis, self._keys)
        self._grace = int(max(1, resume_grace))
        self.kept = kept or KeptSessions(redis, 0, 0, 0)

    @property
    def attached_ttl(self) -> int:
        return max(ATTACHED_TTL, self._grace)

    def ttl(self, session: Session, attached: bool) -> int:
        """How long the session's keys live from now: while attached, until the next
        heartbeat is overdue; detached, the grace; a kept session at least its keep."""
        return max(self.attached_ttl if attached else self._grace, session.keep)

    def set_keep(self, session: Session, value: Any, address: str) -> None:
        """Apply ``hello.keep`` to a session just opened (``gateway.kept``): granted,
        stopped, or refused (``session.keep_refused``); absent, it stays as it was."""
        try:
            seconds = requested_keep(value, self.kept.keep_max)
        except SockethubError as exc:
            session.keep_refused = exc.to_dict()
            return
        if seconds is None:
            return
        if not seconds and value not in (False, 0):
            session.keep_refused = KeepRefused(
                "this session is not kept: this deployment keeps none (SOCKETHUB_KEEP_MAX=0)"
            ).to_dict()
            return
        if seconds <= 0:
            if session.keep:
                pipe = self._redis.pipeline(transaction=False)
                self.kept.release(pipe, session.sid, session.keep_addr)
                pipe.execute()
            session.keep, session.keep_addr = 0, ""
            return
        address = session.keep_addr or address
        ttl = max(self.attached_ttl, seconds)
        refused = self.kept.grant(session.sid, seconds, address, ttl)
        if refused is not None:
            session.keep_refused = refused.to_dict()
            return
        session.keep, session.keep_addr = seconds, address
        pipe = self._redis.pipeline(transaction=False)
        for key in _session_keys(session.sid):
            pipe.expire(key, ttl)
        pipe.execute()

    def create(self, gateway_id: str) -> Session:
        sid = secrets.token_urlsafe(16)
        token = sealing.new_token()
        wrapped = self._keys.wrap(sealing.new_session_key(), sid)
        pipe = self._redis.pipeline()
        pipe.hset(
            keys.session(sid),
            mapping={
                "tok": sealing.token_digest(token),
                "wkey": wrapped,
                "created": f"{time.time():.3f}",
                "gen": 1,
                "gw": gateway_id,
                "att": "1",
            },
        )
        pipe.expire(keys.session(sid), self.attached_ttl)
        pipe.execute()
        return Session(sid=sid, token=token, gen=1)

    def resume(self, sid: Any, token: Any, gateway_id: str) -> Session:
        """Take over a session; the gateway that had it sees a ``ctl`` entry and lets go.
        The returned session carries the new token."""
        if not isinstance(sid, str) or not _SID.fullmatch(sid):
            raise SessionError(
                "resume.session is not a session id (16-64 of A-Z a-z 0-9 _ -)",
                code="session-refused",
            )
        if not isinstance(token, str) or not token or len(token) > _TOKEN_MAX:
            raise SessionError(
                f"resume.token must be the token string of the welcome (at most {_TOKEN_MAX})",
                code="session-refused",
            )
        digest, wrapped, keep, keep_addr = self._redis.hmget(
            keys.session(sid), ["tok", "wkey", "keep", "ka"]
        )
        if digest is None or wrapped is None:
            raise SessionError(
                "session has ended (not resumed within the grace period)",
                code="session-expired",
            )
        if isinstance(digest, bytes):
            digest = digest.decode()
        if not sealing.tokens_match(token, digest):
            raise SessionError("resume token does not match the session", code="session-refused")
        try:
            session_key, stale = self._keys.unwrap(_bytes(wrapped), sid)
        except SockethubError as exc:  # the secret changed and the old one was not kept
            raise SessionError(exc.message, code="session-expired") from None
        rewrapped = self._keys.wrap(session_key, sid) if stale else b""
        new_token = sealing.new_token()
        gen = int(
            self._redis.eval(
                _TAKE_OVER,
                1,
                keys.session(sid),
                digest,
                sealing.token_digest(new_token),
                gateway_id,
                rewrapped,
            )
        )
        if gen < 0:  # another socket resumed it with this token a moment ago
            raise SessionError("resume token does not match the session", code="session-refused")
        session = Session(sid=sid, token=new_token, gen=gen, resumed=True)
        if keep is not None:
            # (SOCKETHUB_KEEP_MAX may have been lowered since it was granted)
            session.keep = min(int(keep), self.kept.keep_max)
            session.keep_addr = _bytes(keep_addr or b"").decode()
        pipe = self._redis.pipeline()
        pipe.xadd(keys.session_stream(sid), {"ctl": "attach", "gen": gen})
        for key in _session_keys(sid):
            pipe.expire(key, self.ttl(session, attached=True))
        pipe.execute()
        return session

    def current_gen(self, sid: str) -> int:
        value = self._redis.hget(keys.session(sid), "gen")
        return int(value) if value is not None else -1

    def last_seq(self, sid: str) -> int:
        value = self._redis.get(keys.session_seq(sid))
        return int(value) if value is not None else 0

    def touch(self, sids: list[str], kept: list[Session] | tuple[Session, ...] = ()) -> None:
        """The heartbeat: keep attached sessions alive (``kept``: those of them that are
        kept, whose keep counts from now should this gateway die without a detach); while
        the secret is being rotated, also rewrap their keys (docs/deployment.md)."""
        if not sids:
            return
        longer = {s.sid: s for s in kept if s.keep}
        pipe = self._redis.pipeline(transaction=False)
        for sid in sids:
            session = longer.get(sid)
            ttl = self.attached_ttl if session is None else self.ttl(session, attached=True)
            for key in _session_keys(sid):
                pipe.expire(key, ttl)
            if session is not None:
                self.kept.renew(pipe, sid, session.keep_addr, ttl)
        pipe.execute()
        self._vault.rewrap(sids)

    def rewrap_kept(self) -> int:
        """While the secret is being rotated, rewrap the keys of the kept sessions too: one
        may be away for days, with no heartbeat of its own (every gateway's heartbeat does
        this; each key is rewrapped once). Returns how many were."""
        if not self._keys.previous:
            return 0
        sids = [_bytes(s).decode() for s in self._redis.zrange(keys.kept(), 0, -1)]
        return self._vault.rewrap(sids)

    def missing(self, sids: list[str]) -> set[str]:
        """The sessions Redis no longer has (ended, or lost by a Redis restarted without
        persistence)."""
        pipe = self._redis.pipeline(transaction=False)
        for sid in sids:
            pipe.exists(keys.session(sid))
        return {sid for sid, found in zip(sids, pipe.execute(), strict=True) if not found}

    def end(self, sid: str, requests: tuple[str, ...] = (), every: bool = False) -> None:
        """End a session now (an HTTP action's, when its answer is written; an ``end``
        frame): its key, credentials and stream go, and with them whatever was sealed
        under its key. ``every``: also each request marker left (found by a scan of the
        session's prefix), so that no key of the session is left at all, and the
        workers' janitors are woken (``keys.sessions_ended``) to release its upstream
        connections at once; otherwise they do at their next beat (``tasks/heartbeat.py``)."""
        names = _session_keys(sid) + [keys.session_stream_bytes(sid)]
        names += [keys.request(sid, rid) for rid in requests]
        keep_addr = self._redis.hget(keys.session(sid), "ka")
        pipe = self._redis.pipeline(transaction=False)
        self.kept.release(pipe, sid, _bytes(keep_addr or b"").decode())
        pipe.delete(*names)
        if every:  # an ``end`` frame: the janitors look now (tasks/heartbeat.py)
            pipe.publish(keys.sessions_ended(), "1")
        pipe.execute()
        if every:
            markers = list(self._redis.scan_iter(match=keys.request(sid, "*"), count=1000))
            if markers:
                self._redis.delete(*markers)

    def detach(self, sid: str, gen: int, keep: Session | None = None) -> None:
        """Start the grace period (or the keep of ``keep``, a kept session), unless another
        socket has resumed the session; the session's ``att`` field says ``0`` from now on
        (``1`` again on resume)."""
        if not int(self._redis.eval(_DETACH, 1, keys.session(sid), gen)):
            return
        ttl = self._grace if keep is None else self.ttl(keep, attached=False)
        pipe = self._redis.pipeline(transaction=False)
        for key in _session_keys(sid):
            pipe.expire(key, ttl)
        if keep is not None and keep.keep:
            self.kept.renew(pipe, sid, keep.keep_addr, ttl)
        pipe.execute()
