"""Credentials at rest: sealed under the session key, which is stored only wrapped.

Used by the gateway to store what a browser sends and by a worker to read it back for one
task. ``redis`` is any redis-py client (bytes or str responses).

While the server secret is being rotated (``SOCKETHUB_SECRET_PREVIOUS`` set), a session key
that only an earlier secret opens is rewrapped under the current one as it is used, and
the gateway's heartbeat rewraps those of the sessions attached to it (``rewrap``), so the
earlier secret is needed only until every gateway has had a heartbeat and every detached
session has been resumed or has ended.
"""

from __future__ import annotations

from typing import Any

from . import keys, sealing
from .errors import CredentialsMissing, SessionError, SockethubError

__all__ = ["Vault"]

# Rewrap only a session that still exists: a plain HSET after it expired would bring
# back a hash holding just the key, with no TTL. KEYS: session hash; ARGV: wrapped key.
_REWRAP = """
if redis.call('HEXISTS', KEYS[1], 'wkey') == 1 then
  redis.call('HSET', KEYS[1], 'wkey', ARGV[1])
  return 1
end
return 0
"""


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode("latin-1")


class Vault:
    def __init__(self, redis: Any, server_keys: bytes | sealing.Keyring):
        self._redis = redis
        self._keys = sealing.Keyring.of(server_keys)

    def session_key(self, sid: str) -> bytes:
        wrapped = self._redis.hget(keys.session(sid), "wkey")
        if wrapped is None:
            raise SessionError(f"session {sid} has ended", code="session-expired")
        key, stale = self._keys.unwrap(_bytes(wrapped), sid)
        if stale:
            self._redis.eval(_REWRAP, 1, keys.session(sid), self._keys.wrap(key, sid))
        return key

    def rewrap(self, sids: list[str]) -> int:
        """Rewrap under the current secret each key of ``sids`` that only an earlier secret
        opens; returns how many. Two round trips, and none without an earlier secret."""
        if not self._keys.previous or not sids:
            return 0
        pipe = self._redis.pipeline(transaction=False)
        for sid in sids:
            pipe.hget(keys.session(sid), "wkey")
        stale: list[tuple[str, bytes]] = []
        for sid, wrapped in zip(sids, pipe.execute(), strict=True):
            if wrapped is None:
                continue
            try:
                key, old = self._keys.unwrap(_bytes(wrapped), sid)
            except SockethubError:
                continue  # no secret of ours opens it: nothing to do here
            if old:
                stale.append((sid, self._keys.wrap(key, sid)))
        if stale:
            pipe = self._redis.pipeline(transaction=False)
            for sid, rewrapped in stale:
                pipe.eval(_REWRAP, 1, keys.session(sid), rewrapped)
            pipe.execute()
        return len(stale)

    @staticmethod
    def _aad(sid: str, platform: str, actor: str) -> str:
        return f"{sid}\x1f{platform}\x1f{actor}"

    def store(
        self,
        sid: str,
        platform: str,
        actor: str,
        credentials: dict[str, Any],
        identity: tuple[str, bool] | None = None,
        key_sid: str | None = None,
    ) -> None:
        """Seal and store; ``identity`` (persistent platforms) also records the key of the
        connection these credentials open, for routing. ``key_sid``: the session whose id
        goes into the key of a connection without a secret, when it is not ``sid`` (a
        Socket.IO reconnect that takes over the connection of the client's previous
        session, ``gateway/sioreattach.py``)."""
        sealed = sealing.seal_json(
            self.session_key(sid), credentials, self._aad(sid, platform, actor)
        )
        skey = keys.session(sid)
        ttl = self._redis.ttl(skey)
        pipe = self._redis.pipeline()
        pipe.hset(keys.session_creds(sid), keys.creds_field(platform, actor), sealed)
        if identity is not None:
            ckey = self._connection_key(platform, identity, key_sid or sid)
            pipe.hset(keys.session_creds(sid), keys.connection_key_field(platform, actor), ckey)
        if ttl and ttl > 0:
            pipe.expire(keys.session_creds(sid), ttl)
        pipe.execute()

    def _connection_key(self, platform: str, identity: tuple[str, bool], sid: str) -> str:
        """The key under the current secret, unless a connection opened under an earlier
        one is still there: then that one, so tabs keep sharing it across a rotation."""
        current, *earlier = self._keys.connection_keys(identity[0], identity[1], sid)
        for ckey in earlier:
            if self._redis.exists(keys.connection(platform, ckey)):
                return ckey
        return current

    def digest(self, data: str) -> str:
        """A keyed hash of ``data`` under the current secret (reveals nothing of it)."""
        return sealing.connection_key(self._keys.current, data, True, "")

    def lookup(self, sid: str, platform: str, actor: str) -> tuple[bool, str | None]:
        """Whether credentials are stored, and the key of the connection they open: what
        the gateway needs to check and route a request, in one round trip."""
        sealed, ckey = self._redis.hmget(
            keys.session_creds(sid),
            [keys.creds_field(platform, actor), keys.connection_key_field(platform, actor)],
        )
        return sealed is not None, ckey.decode() if isinstance(ckey, bytes) else ckey

    def load(self, sid: str, platform: str, actor: str) -> dict[str, Any]:
        sealed = self._redis.hget(keys.session_creds(sid), keys.creds_field(platform, actor))
        if sealed is None:
            raise CredentialsMissing(
                f"credentials not found for {platform}:{actor}; send a credentials "
                "activity for this actor first"
            )
        value = sealing.open_json(
            self.session_key(sid), _bytes(sealed), self._aad(sid, platform, actor)
        )
        if not isinstance(value, dict):
            raise CredentialsMissing(f"credentials for {platform}:{actor} are not an object")
        return value
