"""Sessions: a random id, a per-session key (stored wrapped), a resume token.

While a browser is attached, the session's keys are refreshed by its gateway's heartbeat;
once detached they live ``resume_grace`` seconds more, then Redis deletes them, and with
them the wrapped key: whatever was sealed under it is unreadable from then on.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from envelopes import keys, sealing
from envelopes.errors import SessionError

__all__ = ["Session", "SessionStore", "ATTACHED_TTL"]

ATTACHED_TTL = 120  # seconds; refreshed every HEARTBEAT by the attached gateway
HEARTBEAT = 20


@dataclass
class Session:
    sid: str
    token: str
    gen: int
    resumed: bool = False


def _session_keys(sid: str) -> list[str]:
    return [
        keys.session(sid),
        keys.session_creds(sid),
        keys.session_stream(sid),
        keys.session_seq(sid),
    ]


class SessionStore:
    def __init__(self, redis: Any, server_key: bytes, resume_grace: float):
        self._redis = redis
        self._server = server_key
        self._grace = int(max(1, resume_grace))

    @property
    def attached_ttl(self) -> int:
        return max(ATTACHED_TTL, self._grace)

    def create(self, gateway_id: str) -> Session:
        sid = secrets.token_urlsafe(16)
        token = sealing.new_token()
        wrapped = sealing.wrap_key(self._server, sealing.new_session_key(), sid)
        pipe = self._redis.pipeline()
        pipe.hset(
            keys.session(sid),
            mapping={
                "tok": sealing.token_digest(token),
                "wkey": wrapped,
                "created": f"{time.time():.3f}",
                "gen": 1,
                "gw": gateway_id,
            },
        )
        pipe.expire(keys.session(sid), self.attached_ttl)
        pipe.execute()
        return Session(sid=sid, token=token, gen=1)

    def resume(self, sid: Any, token: Any, gateway_id: str) -> Session:
        """Take over a session; the gateway that had it sees a ``ctl`` entry and lets go."""
        if not isinstance(sid, str) or not isinstance(token, str) or len(sid) > 64:
            raise SessionError("resume needs the session id and token strings")
        digest = self._redis.hget(keys.session(sid), "tok")
        if digest is None:
            raise SessionError(
                "session has ended (not resumed within the grace period)",
                code="session-expired",
            )
        if isinstance(digest, bytes):
            digest = digest.decode()
        if not sealing.tokens_match(token, digest):
            raise SessionError("resume token does not match the session", code="session-refused")
        gen = int(self._redis.hincrby(keys.session(sid), "gen", 1))
        pipe = self._redis.pipeline()
        pipe.hset(keys.session(sid), "gw", gateway_id)
        pipe.xadd(keys.session_stream(sid), {"ctl": "attach", "gen": gen})
        for key in _session_keys(sid):
            pipe.expire(key, self.attached_ttl)
        pipe.execute()
        return Session(sid=sid, token=token, gen=gen, resumed=True)

    def current_gen(self, sid: str) -> int:
        value = self._redis.hget(keys.session(sid), "gen")
        return int(value) if value is not None else -1

    def last_seq(self, sid: str) -> int:
        value = self._redis.get(keys.session_seq(sid))
        return int(value) if value is not None else 0

    def touch(self, sids: list[str]) -> None:
        if not sids:
            return
        pipe = self._redis.pipeline(transaction=False)
        for sid in sids:
            for key in _session_keys(sid):
                pipe.expire(key, self.attached_ttl)
        pipe.execute()

    def detach(self, sid: str, gen: int) -> None:
        """Start the grace period, unless another socket has resumed the session."""
        if self.current_gen(sid) != gen:
            return
        pipe = self._redis.pipeline(transaction=False)
        for key in _session_keys(sid):
            pipe.expire(key, self._grace)
        pipe.execute()
