"""The Redis record of a persistent connection: what a surviving node needs to take over.

``sh:conn:<platform>:<key>`` (actor, owner), ``…:sessions`` (session → actor id),
``…:rooms`` (``session␟room`` for each room a session joined), ``…:order`` (session →
the seq of its last verb run here), ``…:pending:<session>`` (its verbs not yet run).
Dropping the record also drops the connection's own log and its wrapped key (``lkey``),
so none of its history can be read any more (``tasks/ownlog.py``).
Called from task threads and the heartbeat thread, never from the loop.
"""

from __future__ import annotations

from typing import Any

from connectors.persistent import ConnectionSpec
from envelopes import keys
from envelopes.atrest import AtRest
from envelopes.errors import NotConnected, SockethubError
from envelopes.vault import Vault

from .ownlog import log_keys

__all__ = ["Records", "text"]

_SEP = "\x1f"  # between session and room in ``…:rooms``: cannot occur in either
# Only while the record lives: a verb finishing after its connection closed leaves nothing.
# What the lane ran past is no longer pending (``tasks/recovery.py``).
# KEYS: record, order, the session's pending. ARGV: session id, seq.
_RAN = """
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
return 0
"""


# Only while the record lives, and only over the copy that was read.
_RESEAL = """
if redis.call('HGET', KEYS[1], 'actor') == ARGV[1] then
  return redis.call('HSET', KEYS[1], 'actor', ARGV[2])
end
return -1
"""


def text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Records:
    def __init__(self, platform: str, redis: Any, vault: Vault, sealer: AtRest):
        self.platform = platform
        self.redis = redis
        self.vault = vault
        self.sealer = sealer  # the actor is sealed at rest under a key of the connection
        self._ran = redis.register_script(_RAN)
        self._reseal = redis.register_script(_RESEAL)

    def exists(self, key: str) -> bool:
        return bool(self.redis.exists(keys.connection(self.platform, key)))

    def create(self, key: str, actor: dict[str, Any], owner: str) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(
            keys.connection(self.platform, key),
            mapping={
                "actor": self.sealer.seal_record(self.platform, key, actor),
                "owner": owner,
            },
        )
        pipe.sadd(keys.connections(self.platform), key)
        pipe.execute()

    def owner(self, key: str) -> str | None:
        owner = self.redis.hget(keys.connection(self.platform, key), "owner")
        return None if owner is None else text(owner)

    def drop(self, key: str) -> None:
        name = self.platform
        pending = [keys.connection_pending(name, key, sid) for sid in self.members(key)]
        pipe = self.redis.pipeline()
        pipe.delete(
            keys.connection(name, key),  # with the wrapped log key: the log is unreadable
            keys.connection_sessions(name, key),
            keys.connection_rooms(name, key),
            keys.connection_order(name, key),
            keys.connection_marks(name, key),
            keys.connection_convs(name, key),
            keys.connection_msgids(name, key),
            *pending,
        )
        pipe.srem(keys.connections(name), key)
        pipe.execute()
        # After the record: nothing is logged without it (``ownlog._APPEND``), so this
        # list is complete.
        self.redis.delete(*log_keys(self.redis, name, key))

    def reseal(self, key: str) -> bool:
        """During a secret rotation, seal the record under the new secret, so it still
        opens once the old one is gone (docs/deployment.md). True if it was resealed."""
        record = keys.connection(self.platform, key)
        sealed = self.redis.hget(record, "actor")
        if not sealed:
            return False
        fresh = self.sealer.reseal_record(self.platform, key, sealed)
        if fresh is None:
            return False
        return self._reseal(keys=[record], args=[sealed, fresh]) != -1

    def spec(self, key: str, owner: str) -> ConnectionSpec:
        """Rebuild a connection from a session whose credentials still open *this*
        connection: a session that changed its credentials since (its stored connection
        key differs) no longer belongs to it and is dropped, never used."""
        name = self.platform
        sealed = self.redis.hget(keys.connection(name, key), "actor")
        actor = self.sealer.open_record(name, key, sealed) if sealed else {}
        if sealed:
            self.reseal(key)
        for sid, actor_id in self.members(key).items():
            if not self._holds(sid, actor_id, key):
                self.leave(key, sid)
                continue
            try:
                creds = self.vault.load(sid, name, actor_id)
            except SockethubError:
                continue
            self.redis.hset(keys.connection(name, key), "owner", owner)
            return ConnectionSpec(key=key, actor=actor, credentials=creds, rooms=self.rooms(key))
        self.drop(key)
        raise NotConnected(f"the {name} connection has no live session left")

    # -- sessions --------------------------------------------------------------------------
    def members(self, key: str) -> dict[str, str]:
        raw = self.redis.hgetall(keys.connection_sessions(self.platform, key))
        return {text(s): text(a) for s, a in raw.items()}

    def join(self, key: str, sid: str, actor_id: str) -> None:
        self.redis.hset(keys.connection_sessions(self.platform, key), sid, actor_id)

    def leave(self, key: str, sid: str) -> None:
        """The session no longer uses the connection: its rooms are no longer held by it."""
        name = self.platform
        mine = [m for m in self._room_members(key) if text(m).partition(_SEP)[0] == sid]
        pipe = self.redis.pipeline()
        pipe.hdel(keys.connection_sessions(name, key), sid)
        pipe.hdel(keys.connection_order(name, key), sid)
        pipe.delete(keys.connection_pending(name, key, sid))
        if mine:
            pipe.srem(keys.connection_rooms(name, key), *mine)
        pipe.execute()

    def _holds(self, sid: str, actor_id: str, key: str) -> bool:
        field = keys.connection_key_field(self.platform, actor_id)
        return text(self.redis.hget(keys.session_creds(sid), field) or "") == key

    def live(self, key: str) -> list[str]:
        """Sessions still on the connection: alive, and their credentials for its actor
        still open this connection. The others are dropped from it."""
        members = self.members(key)
        pipe = self.redis.pipeline(transaction=False)
        for sid, actor_id in members.items():
            pipe.exists(keys.session(sid))
            pipe.hget(keys.session_creds(sid), keys.connection_key_field(self.platform, actor_id))
        answers = pipe.execute()
        live = []
        for i, sid in enumerate(members):
            alive, ckey = answers[2 * i], answers[2 * i + 1]
            if alive and ckey is not None and text(ckey) == key:
                live.append(sid)
            else:
                self.leave(key, sid)
        return live

    # -- rooms -----------------------------------------------------------------------------
    def _room_members(self, key: str) -> list[Any]:
        return list(self.redis.smembers(keys.connection_rooms(self.platform, key)))

    def remember_room(self, key: str, sid: str, room: str, joined: bool) -> None:
        rooms = keys.connection_rooms(self.platform, key)
        if joined:
            self.redis.sadd(rooms, f"{sid}{_SEP}{room}")
            return
        # A leave leaves the upstream room, so it is gone for every session sharing it.
        gone = [m for m in self._room_members(key) if text(m).rpartition(_SEP)[2] == room]
        if gone:
            self.redis.srem(rooms, *gone)

    def rooms(self, key: str) -> list[str]:
        """The rooms to rejoin: those a session still on the connection holds."""
        sessions = set(self.members(key))
        held = set()
        for member in self._room_members(key):
            sid, sep, room = text(member).partition(_SEP)
            if not sep:  # a record from before rooms were per session
                held.add(sid)
            elif sid in sessions:
                held.add(room)
        return sorted(held)

    # -- order -----------------------------------------------------------------------------
    def order(self, key: str, sid: str) -> int | None:
        """The seq the session's next verb on the connection has (None: unknown)."""
        last = self.redis.hget(keys.connection_order(self.platform, key), sid)
        return None if last is None else int(last) + 1

    def ran(self, key: str, sid: str, seq: int) -> None:
        name = self.platform
        self._ran(
            keys=[
                keys.connection(name, key),
                keys.connection_order(name, key),
                keys.connection_pending(name, key, sid),
            ],
            args=[sid, seq],
        )
