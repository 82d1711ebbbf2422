"""The ``query`` verb's IRC answers besides NAMES: a profile (WHOIS), the channel list (LIST).

These run on a task thread (Redis is fine here, never on the loop) and hand the protocol
work to the connection's loop through ``runtime.call``.

Channel list: answered from the shared cache (``roomcache``) when the server's list is
there; else the caller takes the server's lease and its connection runs the LIST
(``listing``), or, when another session or worker holds the lease, waits for the list to
appear. Either wait is at most ``SOCKETHUB_IRC_LIST_WAIT``; then the answer is the count so
far with ``fetching: true`` and the browser asks again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .listing import Claim, list_rooms
from .outbound import nick_name
from .roomcache import RoomCache, server_name
from .rooms import Snapshot, page
from .whois import whois

if TYPE_CHECKING:
    from ..base import Job
    from ..persistent import Runtime
    from .client import IrcUpstream

__all__ = ["profile_query", "rooms_query"]

POLL = 0.2  # seconds between looks at the cache while another worker fetches
MARGIN = 1.5  # seconds kept back from the deadline for the reply


def _answer(job: Job, obj: dict[str, Any]) -> dict[str, Any]:
    return {**job.activity, "object": obj}


def profile_query(runtime: Runtime, up: IrcUpstream, job: Job) -> dict[str, Any]:
    nick = nick_name(job.activity)
    return _answer(job, runtime.call(job, whois(up, nick, job.remaining)))


def _wanted(job: Job) -> tuple[str | None, str | None, int | None]:
    obj: Mapping[str, Any] = job.activity.get("object") or {}
    return obj.get("search"), obj.get("cursor"), obj.get("limit")


def rooms_query(runtime: Runtime, up: IrcUpstream, cache: RoomCache, job: Job) -> dict[str, Any]:
    search, cursor, limit = _wanted(job)
    server = server_name(up.host, up.port)
    ttl = max(1.0, up.settings.irc_list_ttl)
    wait = max(0.1, min(up.settings.irc_list_wait, 60.0, job.remaining - MARGIN))
    snap = cache.get(server)
    if snap is None:
        token = cache.lease(server)
        if token is not None:
            claim = Claim(
                lambda got: cache.put(server, got, ttl),
                lambda: cache.release(server, token),
                lambda seen: cache.renew(server, token, seen),
            )
            try:
                outcome = runtime.call(job, list_rooms(up, wait, claim))
            finally:
                if not claim.taken:  # the call never ran (the connection was gone)
                    claim.release()
        else:  # another session or worker fetches it: ours may be the one, else Redis
            outcome = runtime.call(job, list_rooms(up, wait, None))
            if outcome is None:  # not this connection's: another's, written to the cache
                outcome = _await_cache(cache, server, wait)
                if outcome is None:
                    outcome = cache.progress(server)
        if not isinstance(outcome, Snapshot):
            seen = int(outcome or 0)
            fetching = {"type": "collection", "totalItems": seen, "items": [], "next": None}
            return _answer(job, {**fetching, "fetching": True})
        snap = outcome
    return _answer(job, page(snap, up.host, search=search, cursor=cursor, limit=limit))


def _await_cache(cache: RoomCache, server: str, wait: float) -> Snapshot | None:
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        snap = cache.get(server)
        if snap is not None:
            return snap
        time.sleep(POLL)
    return None
