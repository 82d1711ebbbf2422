"""Writing a connection's events to every session on it: the publisher's ``deliver``.

Runs in the publisher thread (``tasks/publisher.py``), never on the loop. For a batch of
events it reads who is on each connection (one pipeline for the whole batch), then writes
every event into every session's stream (one more pipeline): a few round trips a batch,
not one per event and session, which matters when the thread must win the interpreter
back from a busy loop after each one. A session whose stream is gone leaves the
connection. Sessions are fixed on each ``Item`` at its first attempt, so a retry writes
to the same ones. Messages go into the connection's own log first (``tasks/ownlog.py``),
once: history has every message a session was sent.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from envelopes import keys
from envelopes.context import context_for
from envelopes.errors import TooLarge
from envelopes.outbox import Outbox, event_frame

from .attention import Attention
from .ownlog import OwnLog
from .publisher import RETRYABLE, Item
from .records import Records, text

__all__ = ["Fanout", "QUEUE_MAX_CAP", "QUEUE_BYTES_CAP"]

QUEUE_MAX_CAP = 10_000_000  # caps of SOCKETHUB_EVENT_QUEUE_MAX / _BYTES
QUEUE_BYTES_CAP = 4 * 1024**3
MEMBERS_TTL = 1.0  # seconds a connection's session list is reused between batches

log = logging.getLogger("sockethub.fanout")


class Fanout:
    def __init__(
        self,
        platform: str,
        redis: Any,
        records: Records,
        outbox: Outbox,
        attention: Attention | None = None,
        ownlog: OwnLog | None = None,
    ):
        self.platform = platform
        self.attention = attention  # unread counts and Web Push, before the events go out
        self.ownlog = ownlog
        self.redis = redis
        self.records = records
        self.outbox = outbox
        # Who is on a connection, read at most every MEMBERS_TTL seconds; the manager
        # calls ``changed`` when a session joins or leaves here, which is where that
        # happens (the generation keeps a read that raced with it from being kept).
        self._members: dict[str, tuple[float, int, list[str]]] = {}
        self._gen: dict[str, int] = {}

    def changed(self, key: str) -> None:
        self._gen[key] = self._gen.get(key, 0) + 1
        self._members.pop(key, None)

    def _cached(self, key: str) -> list[str] | None:
        hit = self._members.get(key)
        if hit is None or hit[0] < time.monotonic() or hit[1] != self._gen.get(key, 0):
            return None
        return hit[2]

    def _log(self, items: list[Item]) -> None:
        todo = [i for i in items if not i.logged]
        if self.ownlog is None or not todo:
            return
        try:
            self.ownlog.record([(i.key, i.activity, False) for i in todo])
        except RETRYABLE:
            raise  # Redis: the publisher retries the batch (a message is logged once)
        except Exception:
            # Never hold back the events because of the log: these miss history, logged.
            log.exception("%s: recording %d message(s) in history failed", self.platform, len(todo))
        for item in todo:
            item.logged = True

    def deliver(self, items: list[Item]) -> None:
        self._log(items)
        fresh = list(dict.fromkeys(i.key for i in items if i.sessions is None))
        members = {k: m for k in fresh if (m := self._cached(k)) is not None}
        unknown = [k for k in fresh if k not in members]
        if unknown:
            gens = {k: self._gen.get(k, 0) for k in unknown}
            pipe = self.redis.pipeline(transaction=False)
            for key in unknown:
                pipe.hkeys(keys.connection_sessions(self.platform, key))
            now = time.monotonic()
            for key, raw in zip(unknown, pipe.execute(), strict=True):
                members[key] = sorted(text(s) for s in raw)
                self._members[key] = (now + MEMBERS_TTL, gens[key], members[key])
        for item in items:
            if item.sessions is None:
                item.sessions = members[item.key]
        if self.attention is not None:
            self.attention.observe(items)
        todo = [i for i in items if i.sessions and i.done < len(i.sessions)]
        writes = [(i, sid) for i in todo for sid in (i.sessions or [])[i.done :]]
        if not writes:
            return
        seqs = self.outbox.push_many([(sid, event_frame(i.activity)) for i, sid in writes])
        for item in todo:
            item.done = len(item.sessions or [])
        for (item, sid), seq in zip(writes, seqs, strict=True):
            if seq < 0:  # that session has ended
                self.records.leave(item.key, sid)
                self.changed(item.key)

    def gap(self, key: str, dropped: int) -> dict[str, Any]:
        """The event standing for ``dropped`` events the worker could not keep."""
        exc = TooLarge(
            f"{dropped} event(s) of this {self.platform} connection were dropped: the worker "
            "held as many as it may (SOCKETHUB_EVENT_QUEUE_MAX, SOCKETHUB_EVENT_QUEUE_BYTES) "
            "while Redis did not take them. Messages may be missing; a room's history, if "
            "the server keeps one, has them"
        )
        return {
            "@context": context_for(self.platform),
            "type": "error",
            "actor": {"type": "service", "id": self.platform, "name": self.platform},
            "object": {
                "type": "error",
                "code": exc.code,
                "condition": "events-dropped",
                "retryable": exc.retryable,
                "dropped": dropped,
                "content": exc.message,
            },
            "error": exc.message,
        }
