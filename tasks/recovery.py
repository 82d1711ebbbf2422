"""What a node taking a connection over finds of its dead owner's verbs.

Celery takes a task off Redis when a worker reserves it (no ``acks_late``, no ack
emulation), so a worker killed with tasks in its threads, its prefetch or its lanes takes
them with it. Their traces stay in Redis: each verb is listed in the connection's pending
set of its session (``keys.connection_pending``: request id by ``seq``, written by the
gateway as it numbers the verb, removed once a lane runs past it) and its marker holds
the sealed activity and its state (``envelopes.markers``). So the new owner, once it
holds the lease, reads every pending verb of the connection's sessions:

- marker ``a``/``p`` (never started): rebuilt from the marker and put back in its lane
  under its ``seq``, to run in order once the connection is restored. A Celery copy that
  still turns up (drained from the dead node's queue) finds it claimed and is dropped.
- marker ``r`` (it had started, and may or may not have reached the server): answered
  ``reconnecting`` at once, never run again.
- answered, or gone: nothing to run, but its place in the lane is filled all the same,
  so the lane does not wait ``SOCKETHUB_ORDER_GAP_WAIT`` for a verb that will not come.

Called from task threads and the janitor, never from the loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from envelopes import keys
from envelopes.atrest import AtRest
from envelopes.markers import ACCEPTED, RUNNING, SENT, state_of, tag_of

from .records import text

__all__ = ["Pending", "pending_verbs"]

log = logging.getLogger("sockethub.manager")


@dataclass
class Pending:
    session: str
    request: str
    seq: int
    payload: dict[str, Any] | None = None  # to run again: never started
    started: bool = False  # was running when its owner died: answer ``reconnecting``
    activity: dict[str, Any] | None = None  # to echo in that answer


def pending_verbs(
    platform: str, key: str, sessions: list[str], redis: Any, sealer: AtRest
) -> list[Pending]:
    """Every pending verb of ``sessions`` on connection ``key``, by session and ``seq``."""
    pipe = redis.pipeline(transaction=False)
    for sid in sessions:
        pipe.zrange(keys.connection_pending(platform, key, sid), 0, -1, withscores=True)
    listed = [
        (sid, text(rid), int(seq))
        for sid, entries in zip(sessions, pipe.execute(), strict=True)
        for rid, seq in entries
    ]
    if not listed:
        return []
    pipe = redis.pipeline(transaction=False)
    for sid, rid, _seq in listed:
        pipe.get(keys.request(sid, rid))
        pipe.zscore(keys.deadlines(), keys.deadline_member(sid, rid))
    answers = pipe.execute()
    out = []
    for i, (sid, rid, seq) in enumerate(listed):
        marker, deadline = answers[2 * i], answers[2 * i + 1]
        state = state_of(marker)
        item = Pending(sid, rid, seq)
        if state in (ACCEPTED, SENT, RUNNING) and deadline is not None:
            activity = sealer.open_marker(sid, rid, marker)
            if activity is None:
                log.warning("pending %s/%s: its marker does not open; skipped", sid, rid)
            elif state == RUNNING:
                item.started, item.activity = True, activity
            else:
                item.payload = {
                    "session": sid,
                    "request": rid,
                    "verb": str(activity.get("type", "")),
                    "activity": activity,
                    "deadline": float(deadline),
                    "tag": tag_of(marker),
                    "connection": key,
                    "seq": seq,
                }
        out.append(item)
    out.sort(key=lambda p: (p.session, p.seq))
    return out
