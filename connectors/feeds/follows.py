"""Who follows which feed, and when each is polled next: the follow state, in Redis.

Everything a poller needs survives a worker restart, because it is all here (key names in
``envelopes.keys``): per feed a hash (URL, schedule, counters), its followers (session
ids) and its seen-set (digests of item identities, never item text); per session the feeds
it follows; one sorted set, ``follow_due``, saying when each feed is polled next.

**One poller per feed, deployment-wide.** ``claim`` (one Lua script) takes feeds that are
due and, for each, a lease (``SET NX PX`` on ``keys.lease("feeds", fid)`` naming the
claimer), and moves the feed's due time to the lease's end: no other poller sees it due
while it is held. ``finish`` releases the lease and sets the next due time only while the
lease is still the claimer's; a poller that died leaves a lease that lapses, and the feed
is due again for any other. The lease outlives the longest poll (one guarded fetch and a
parse), so it needs no renewal.

Bounds: ``SOCKETHUB_FOLLOW_MAX_PER_SESSION`` feeds a session, ``SOCKETHUB_FOLLOW_MAX_FEEDS``
feeds in all, ``SOCKETHUB_FOLLOW_SEEN`` identities a feed. A session that ended leaves
every feed's followers at that feed's next poll; a feed nobody follows is dropped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from envelopes import keys
from envelopes.errors import TooLarge
from envelopes.settings import Settings

__all__ = ["Follows", "feed_id", "history", "SEEN_CAP", "LEASE_PREFIX"]

SEEN_CAP = 20_000  # identities kept per feed whatever SOCKETHUB_FOLLOW_SEEN says
LEASE_PREFIX = keys.lease("feeds", "")

# KEYS: session's follows, feed, followers, due. ARGV: fid, url, sid, per-session cap,
# feeds cap, due time of a new feed.  → 2 already followed, 1 new feed, 0 a feed others
# follow, -1 session cap, -2 deployment cap.
_FOLLOW = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[3], ARGV[3])
  return 2
end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return -1 end
local created = 0
if redis.call('EXISTS', KEYS[2]) == 0 then
  if redis.call('ZCARD', KEYS[4]) >= tonumber(ARGV[5]) then return -2 end
  redis.call('HSET', KEYS[2], 'url', ARGV[2], 'polls', 0, 'parses', 0, 'notmod', 0)
  created = 1
end
redis.call('ZADD', KEYS[4], 'NX', ARGV[6], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
return created
"""

# KEYS: session's follows, feed, followers, due, seen. ARGV: fid, sid. → 1 if it was followed
_UNFOLLOW = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SREM', KEYS[3], ARGV[2])
if redis.call('SCARD', KEYS[3]) == 0 then
  redis.call('DEL', KEYS[2], KEYS[3], KEYS[5])
  redis.call('ZREM', KEYS[4], ARGV[1])
end
return 1
"""

# KEYS: feed, followers, seen, lease, due. ARGV: fid.
_DROP = """
if redis.call('SCARD', KEYS[2]) > 0 then return 0 end
redis.call('DEL', KEYS[1], KEYS[3], KEYS[4])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
"""

# KEYS: due. ARGV: now, lease ms, owner, how many, lease key prefix. → the feed ids taken
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[4])
local out = {}
local lease_end = tonumber(ARGV[1]) + tonumber(ARGV[2]) / 1000
for _, fid in ipairs(due) do
  if redis.call('SET', ARGV[5] .. fid, ARGV[3], 'NX', 'PX', ARGV[2]) then
    redis.call('ZADD', KEYS[1], 'XX', lease_end, fid)
    out[#out + 1] = fid
  end
end
return out
"""

# KEYS: due, lease, feed. ARGV: fid, owner, next due, count of set pairs, then set pairs,
# then increment pairs. → 1 done, 0 the feed is gone, -1 the lease was no longer ours
_FINISH = """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return -1 end
redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
local sets = tonumber(ARGV[4])
for i = 5, 4 + 2 * sets, 2 do redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
for i = 5 + 2 * sets, #ARGV, 2 do redis.call('HINCRBY', KEYS[3], ARGV[i], ARGV[i + 1]) end
-- What the gateway recorded while we polled: a WebSub push waiting (poll again now), a
-- subscription verified (renew it in time).
local due = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
if redis.call('HEXISTS', KEYS[3], 'ws_push') == 1 then due = now end
local renew = tonumber(redis.call('HGET', KEYS[3], 'ws_renew') or '')
if renew and renew > now and renew < due then due = renew end
redis.call('ZADD', KEYS[1], 'XX', due, ARGV[1])
return 1
"""


def feed_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:32]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class Follows:
    def __init__(self, redis: Any, settings: Settings, owner: str) -> None:
        self.redis = redis
        self.settings = settings
        self.owner = owner  # what our leases say
        self._follow = redis.register_script(_FOLLOW)
        self._unfollow = redis.register_script(_UNFOLLOW)
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)
        self._drop = redis.register_script(_DROP)

    @property
    def lease_ms(self) -> int:
        # One poll: a guarded fetch (SOCKETHUB_FETCH_TIMEOUT) and a parse, with room.
        return int((2 * self.settings.fetch_timeout + 10) * 1000)

    # -- verbs ------------------------------------------------------------------------------
    def follow(self, sid: str, url: str, *, due: float) -> int:
        """1: a new feed (the caller seeds it), 0: a feed others follow, 2: followed already.
        Raises ``TooLarge`` naming the cap hit."""
        fid = feed_id(url)
        s = self.settings
        got = int(
            self._follow(
                keys=[
                    keys.follow_session(sid),
                    keys.follow_feed(fid),
                    keys.follow_followers(fid),
                    keys.follow_due(),
                ],
                args=[fid, url, sid, s.follow_max_per_session, s.follow_max_feeds, due],
            )
        )
        if got == -1:
            raise TooLarge(
                f"this session follows {s.follow_max_per_session} feeds, as many as this "
                "gateway allows (SOCKETHUB_FOLLOW_MAX_PER_SESSION); unfollow some first",
                details=[{"condition": "follow-limit", "platform": "feeds"}],
            )
        if got == -2:
            raise TooLarge(
                f"this gateway follows {s.follow_max_feeds} feeds, as many as it allows "
                "(SOCKETHUB_FOLLOW_MAX_FEEDS); ask its operator",
                details=[{"condition": "follow-limit", "platform": "feeds"}],
            )
        return got

    def unfollow(self, sid: str, url: str) -> bool:
        return self._leave_feed(sid, feed_id(url))

    def _leave_feed(self, sid: str, fid: str) -> bool:
        return bool(
            self._unfollow(
                keys=[
                    keys.follow_session(sid),
                    keys.follow_feed(fid),
                    keys.follow_followers(fid),
                    keys.follow_due(),
                    keys.follow_seen(fid),
                ],
                args=[fid, sid],
            )
        )

    def urls(self, sid: str) -> list[str]:
        return sorted(_text(u) for u in self.redis.hvals(keys.follow_session(sid)))

    # -- the poller -------------------------------------------------------------------------
    def claim(self, now: float, count: int) -> list[str]:
        if count <= 0:
            return []
        got = self._claim(
            keys=[keys.follow_due()], args=[now, self.lease_ms, self.owner, count, LEASE_PREFIX]
        )
        return [_text(f) for f in got]

    def next_due(self) -> float | None:
        first = self.redis.zrange(keys.follow_due(), 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    def state(self, fid: str) -> dict[str, str]:
        """The feed's record as text; a pushed body (sealed bytes) is ``take_push``'s."""
        raw = self.redis.hgetall(keys.follow_feed(fid))
        return {_text(k): _text(v) for k, v in raw.items() if k != b"ws_push"}

    def take_push(self, fid: str) -> tuple[bytes, str] | None:
        """The body a WebSub hub pushed last (sealed) and its type, taken off the record."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hget(keys.follow_feed(fid), "ws_push")
        pipe.hget(keys.follow_feed(fid), "ws_type")
        pipe.hdel(keys.follow_feed(fid), "ws_push")
        sealed, kind, _ = pipe.execute()
        return None if not sealed else (sealed, _text(kind or b""))

    def live_followers(self, fid: str) -> list[str]:
        """The followers whose session still exists; the others leave (with their list)."""
        sids = sorted(_text(s) for s in self.redis.smembers(keys.follow_followers(fid)))
        if not sids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for sid in sids:
            pipe.exists(keys.session(sid))
        alive = pipe.execute()
        gone = [sid for sid, ok in zip(sids, alive, strict=True) if not ok]
        self.leave(gone)
        return [sid for sid, ok in zip(sids, alive, strict=True) if ok]

    def leave(self, sids: Iterable[str]) -> None:
        """Sessions that ended: out of every feed they followed."""
        for sid in sids:
            for raw in self.redis.hkeys(keys.follow_session(sid)):
                self._leave_feed(sid, _text(raw))
            self.redis.delete(keys.follow_session(sid))

    def seed(
        self,
        fid: str,
        digest: str,
        identities: list[str],
        present: int,
        fields: Mapping[str, str],
    ) -> None:
        """A new feed's current items, seen; its body's digest, parsed; its hints."""
        self.remember(fid, identities, present)
        self.redis.hset(keys.follow_feed(fid), mapping={**fields, "digest": digest})

    def drop(self, fid: str) -> bool:
        """A feed nobody follows: its record, seen-set, schedule entry and lease go (unless
        someone followed it meanwhile)."""
        return bool(
            self._drop(
                keys=[
                    keys.follow_feed(fid),
                    keys.follow_followers(fid),
                    keys.follow_seen(fid),
                    keys.lease("feeds", fid),
                    keys.follow_due(),
                ],
                args=[fid],
            )
        )

    def distrust(self, fid: str, kinds: list[str]) -> None:
        """The identity kinds (``dedupe.KINDS``) this feed changes on every fetch."""
        self.redis.hset(keys.follow_feed(fid), "broken", ",".join(kinds))

    def seen(self, fid: str) -> set[str]:
        return {_text(m) for m in self.redis.zrange(keys.follow_seen(fid), 0, -1)}

    def remember(self, fid: str, identities: list[str], present: int) -> None:
        """Mark ``identities`` seen now; keep the newest (at least three times the
        ``present`` items' worth, at most ``SEEN_CAP``)."""
        if not identities:
            return
        keep = min(SEEN_CAP, max(self.settings.follow_seen, 9 * present))
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        # Scores rise along the list so that the feed's newest items (first) rank newest.
        n = len(identities)
        pipe.zadd(
            keys.follow_seen(fid), {m: now + (n - i) * 1e-6 for i, m in enumerate(identities)}
        )
        pipe.zremrangebyrank(keys.follow_seen(fid), 0, -(keep + 1))
        pipe.execute()

    def finish(
        self,
        fid: str,
        due: float,
        fields: Mapping[str, str | float | int],
        counts: Mapping[str, int],
    ) -> int:
        sets = [x for k, v in fields.items() for x in (k, v)]
        incrs = [x for k, v in counts.items() if v for x in (k, v)]
        return int(
            self._finish(
                keys=[keys.follow_due(), keys.lease("feeds", fid), keys.follow_feed(fid)],
                args=[fid, self.owner, due, len(fields), *sets, *incrs],
            )
        )

    def release(self, fid: str) -> None:
        """Give a claimed feed back unpolled (stopping): due again at once for others."""
        self.finish(fid, time.time(), {}, {})


def history(raw: str | None) -> list[float]:
    try:
        got = json.loads(raw or "[]")
        return [float(t) for t in got][-20:]
    except (ValueError, TypeError):
        return []
