"""A Socket.IO reconnect takes back its client's anonymous IRC/XMPP connection.

Every Socket.IO connection is a new session of ours (``gateway.siosession``), and the key
of an upstream connection opened without a secret mixes in the session's id, so that
nobody shares it (``envelopes.sealing.connection_key``). After a network drop Sockethub's
SDK replays ``credentials``, ``connect`` and ``join`` on its new socket: on their own,
they would open a second connection next to the first (still held for the old session's
grace period), and IRC would call it ``nick_``.

The rule: credentials without a secret stored on a Socket.IO session take the connection
key of the previous Socket.IO session that stored the *same* credentials (server, port,
TLS, nick, username, certificate check: the whole connection identity) from the *same*
client address, once that session's socket has gone, within ``SOCKETHUB_RESUME_GRACE``.
The old session stays a member until its grace ends; the connection then lives on with
the new one, rooms included. Credentials with a secret need none of this: identical ones
share one connection anyway.

Why it is safe: a live socket's connection is never taken (only a released one is), so
two open tabs never share an anonymous connection; whoever takes it presents the same
identity from the same address, and all that identity protects is a nick, which anyone
may claim on IRC once its connection drops; the window is the grace period. What a
taker would gain over claiming the nick is the rooms still joined and what arrived
during the gap: from the same address within a minute, which is the client itself
unless it shares its address (a NAT) with someone who knows its nick and server.
"""

from __future__ import annotations

from typing import Any

from envelopes import keys
from envelopes.vault import Vault

__all__ = ["Reattach"]

_SEP = "\x1f"

# KEYS: the reattach key. ARGV: this session, the TTL while held.
# Returns the session id to mix into the connection key.
_TAKE = """
local v = redis.call('GET', KEYS[1])
if v then
  local state, keysid, holder = string.match(v, '^(%a+)\\31([^\\31]*)\\31(.*)$')
  if state == 'free' or holder == ARGV[1] then
    redis.call('SET', KEYS[1], 'held\\31' .. keysid .. '\\31' .. ARGV[1], 'EX', ARGV[2])
    return keysid
  end
  return ARGV[1]
end
redis.call('SET', KEYS[1], 'held\\31' .. ARGV[1] .. '\\31' .. ARGV[1], 'EX', ARGV[2])
return ARGV[1]
"""

# KEYS: the reattach key. ARGV: this session, the key's session, the grace. Only the
# holder releases (another live tab may have recorded it since).
_RELEASE = """
local v = redis.call('GET', KEYS[1])
if v then
  local holder = string.match(v, '\\31([^\\31]*)$')
  if holder ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], 'free\\31' .. ARGV[2] .. '\\31' .. ARGV[1], 'EX', ARGV[3])
return 1
"""

_DROP_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""

HELD_TTL = 86400  # a held record outlives any grace; a release rewrites it anyway


class Reattach:
    """One Socket.IO session's anonymous connections: taken at credentials, released
    when its socket goes."""

    def __init__(self, redis: Any, vault: Vault, grace: float, sid: str, address: str):
        self._redis = redis
        self._vault = vault
        self._grace = max(1, int(grace))
        self._sid = sid
        self._address = address
        self._held: dict[str, str] = {}  # reattach key -> the session id in the key

    def key_sid(self, platform: str, identity: tuple[str, bool]) -> str | None:
        """The session id for the key of this connection (None: this session's own)."""
        ident, secret_bearing = identity
        if secret_bearing:
            return None  # identical credentials with a secret share one connection anyway
        digest = self._vault.digest(_SEP.join(("reattach", platform, ident, self._address)))
        key = keys.reattach(platform, digest)
        self._forget_the_dead(key)
        got = self._redis.eval(_TAKE, 1, key, self._sid, HELD_TTL)
        keysid = got.decode() if isinstance(got, bytes) else str(got)
        self._held[key] = keysid
        return keysid if keysid != self._sid else None

    def _forget_the_dead(self, key: str) -> None:
        """A record held by a session that no longer exists (its gateway died before it
        could release it) is dropped, or it would block the client's reconnects."""
        raw = self._redis.get(key)
        if raw is None:
            return
        state, _, holder = (raw.decode() if isinstance(raw, bytes) else str(raw)).split(_SEP)
        if state == "held" and holder != self._sid and not self._redis.exists(keys.session(holder)):
            # Deleted only if unchanged: a record taken meanwhile stays.
            self._redis.eval(_DROP_IF, 1, key, raw)

    def release(self) -> None:
        for key, keysid in self._held.items():
            self._redis.eval(_RELEASE, 1, key, self._sid, keysid, self._grace)
        self._held.clear()
