"""The poller of followed feeds: one per feeds worker process, all sharing one schedule.

Where it runs, and why: in the feeds worker process, as one scheduler thread and a pool
of ``SOCKETHUB_FOLLOW_POLLS`` poll threads, started when the worker starts
(``Platform.background``). Not on an asyncio loop: the guarded HTTP client and the shared
cache are blocking code, a poll holds no socket between polls, and nothing here must stay
connected. Not as a Celery task per poll either: 10,000 feeds would be 10,000 broker
messages an interval to do what a sorted set in Redis does with one script call. Any
number of feeds workers share the schedule (``follows.Follows.claim``): each feed is
polled by one of them at a time, and a worker that dies leaves its feeds to the others
once their leases lapse. Events are written by the poll thread itself with one pipeline
per new item (``broadcast``); a thread, unlike a loop, may wait for Redis.

One poll (``poll``): the feed's followers, pruned of ended sessions (none left: the feed
is dropped); the feed through the shared cache (``FetchConnector.get``: conditional GET,
single flight, per-host limit); when the body's digest is the one parsed last (a ``304``,
or the same bytes), nothing is parsed; otherwise the items are parsed, checked against
the seen-set (``dedupe``), the new ones sent oldest first to every follower, and their
identities remembered. A feed's first poll (followed by OPML import, nothing seen yet)
only remembers. Then the next poll time (``schedule``) and the lease released.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from envelopes.context import context_for
from envelopes.errors import SockethubError
from envelopes.settings import Settings

from ..net.cache import Cached
from . import dedupe, schedule
from .follows import Follows, history
from .schedule import HISTORY
from .websub import Subscriber

__all__ = ["Poller", "Fetch", "Parse", "FAIL_NOTICE", "failure_event"]

log = logging.getLogger("sockethub.follow")

Fetch = Callable[[str, float], Cached]  # URL, deadline (epoch) → the answer
Parse = Callable[[Cached], dict[str, Any]]  # → a ``parse_feed`` collection
Broadcast = Callable[[list[str], dict[str, Any]], list[int]]

# Seconds the scheduler sleeps at most when nothing is due: a WebSub push makes its feed
# due now, and waits at most this long for its poll (four cheap reads a second, idle).
IDLE = 0.25
BACKOFF = 2.0  # seconds after the schedule could not be read (Redis down)
FAIL_NOTICE = 3  # polls failed in a row before the followers are told


def failure_event(url: str, exc: SockethubError, failing: int) -> dict[str, Any]:
    """What followers see of a feed that keeps failing (it is still polled)."""
    said = f"{exc.message} ({failing} polls in a row failed; it is still polled)"
    return {
        "@context": context_for("feeds"),
        "type": "error",
        "actor": {"type": "feed", "id": url},
        "object": {
            "type": "error",
            "code": exc.code,
            "condition": "feed-failing",
            "retryable": exc.retryable,
            "content": said,
        },
        "error": said,
    }


class Poller:
    def __init__(
        self,
        follows: Follows,
        settings: Settings,
        fetch: Fetch,
        parse: Parse,
        broadcast: Broadcast,
        subscriber: Subscriber | None = None,
    ) -> None:
        self.follows = follows
        self.subscriber = subscriber
        self.settings = settings
        self.fetch = fetch
        self.parse = parse
        self.broadcast = broadcast
        # A poll sooner than the shared cache's fresh window would be answered from it.
        low = max(settings.follow_min_interval, settings.fetch_fresh)
        self.bounds = schedule.Bounds(low, max(low, settings.follow_max_interval))
        self.slots = max(1, settings.follow_polls)
        self._busy = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(self.slots, thread_name_prefix="sockethub-follow")
        self._thread = threading.Thread(target=self._run, name="sockethub-follow", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """No more claims; polls under way get ``timeout`` seconds to end and hand their
        feeds back (one cut short leaves a lease that lapses: its feed is polled later)."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)
        while self._busy and time.monotonic() < deadline:
            time.sleep(0.05)

    # -- the scheduler thread -------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                wait = self._tick()
            except Exception as exc:  # Redis down or failing: the schedule waits there
                log.warning("cannot read the follow schedule (%s); retrying", exc)
                wait = BACKOFF
            self._wake.wait(wait)
            self._wake.clear()

    def _tick(self) -> float:
        with self._lock:
            free = self.slots - self._busy
        now = time.time()
        taken = self.follows.claim(now, free)
        with self._lock:
            self._busy += len(taken)
        for fid in taken:
            self._pool.submit(self._poll_one, fid)
        if len(taken) == free and free:
            return 0.0 if self._busy < self.slots else IDLE  # more may be due
        due = self.follows.next_due()
        return IDLE if due is None else min(IDLE, max(0.01, due - time.time()))

    def _poll_one(self, fid: str) -> None:
        try:
            self.poll(fid)
        except Exception:
            log.exception("polling followed feed %s failed", fid)
            try:
                self.follows.finish(fid, time.time() + self.bounds.low, {}, {"errors": 1})
            except Exception:
                pass  # its lease lapses and it is due again
        finally:
            with self._lock:
                self._busy -= 1
            self._wake.set()

    # -- one poll -------------------------------------------------------------------------
    def poll(self, fid: str) -> None:
        state = self.follows.state(fid)
        if "url" not in state:  # unfollowed by all since it was claimed
            self.follows.release(fid)
            return
        followers = self.follows.live_followers(fid)
        if not followers:  # the last follower's session ended: the feed goes with it
            if not self.follows.drop(fid):  # followed again meanwhile: poll it soon
                self.follows.release(fid)
            return
        url = state["url"]
        now = time.time()
        counts = {"polls": 1}
        fields: dict[str, str | float | int] = {}
        try:
            pushed = self.subscriber.pushed(fid, url) if self.subscriber else None
            cached = pushed or self.fetch(url, now + self.settings.fetch_timeout + 5)
        except SockethubError as exc:
            self._failed(fid, state, now, counts, followers, exc)
            return
        fields["failing"] = 0
        if cached.source == "revalidated":
            counts["notmod"] = 1
        if cached.digest == state.get("digest"):
            self._reschedule(fid, state, now, fields, counts, cached=cached)
            return
        counts["parses"] = 1
        try:
            collection = self.parse(cached)
        except SockethubError as exc:
            self._failed(fid, state, now, counts, followers, exc)
            return
        found = self._deliver(fid, state, collection, followers)
        hints = schedule.hints(cached.body)
        times = history(state.get("history"))
        times += [
            i["object"]["datenum"] / 1000
            for i in collection["items"][:HISTORY]
            if "datenum" in i["object"]
        ]
        if found:
            times.append(now)
        fields.update(digest=cached.digest, history=json.dumps(sorted(set(times))[-HISTORY:]))
        if cached.source != "pushed":  # a push may hold only the new entries, no hub link
            fields.update(schedule.hint_fields(hints))
        state = {**state, **{k: str(v) for k, v in fields.items()}}
        self._reschedule(fid, state, now, fields, counts, cached=cached)

    def _deliver(
        self,
        fid: str,
        state: dict[str, str],
        collection: dict[str, Any],
        followers: list[str],
    ) -> int:
        """Send the new items (none on a feed's first poll); the count sent."""
        items = collection["items"]
        actor = collection["actor"]
        broken = [k for k in state.get("broken", "").split(",") if k]
        seen = self.follows.seen(fid)
        verdict = dedupe.new_items(items, actor, seen, broken)
        if verdict.broken:
            log.info("followed feed %s: its %s changes every fetch", state["url"], verdict.broken)
            self.follows.distrust(fid, [*broken, *verdict.broken])
        fresh = verdict.new if state.get("digest") else []  # first poll: all is old
        fresh = fresh[: self.settings.feed_items]
        context = context_for("feeds")
        for item in reversed(fresh):  # oldest first, as they were published
            sent = self.broadcast(followers, {"@context": context, **item})
            gone = [sid for sid, seq in zip(followers, sent, strict=True) if seq < 0]
            if gone:
                self.follows.leave(gone)
                followers = [s for s in followers if s not in gone]
        self.follows.remember(fid, verdict.remember, len(items))
        return len(fresh)

    def _failed(
        self,
        fid: str,
        state: dict[str, str],
        now: float,
        counts: dict[str, int],
        followers: list[str],
        exc: SockethubError,
    ) -> None:
        """A poll that failed: polled again later (the interval doubles); its followers
        hear of it once, at the ``FAIL_NOTICE``-th failure in a row."""
        url = state["url"]
        log.info("followed feed %s: %s", url, exc.message)
        failing = int(state.get("failing") or 0) + 1
        if failing == FAIL_NOTICE:
            self.broadcast(followers, failure_event(url, exc, failing))
        fields: dict[str, str | float | int] = {"failing": failing}
        self._reschedule(fid, state, now, fields, {**counts, "errors": 1}, failed=True)

    def _reschedule(
        self,
        fid: str,
        state: dict[str, str],
        now: float,
        fields: dict[str, str | float | int],
        counts: dict[str, int],
        *,
        failed: bool = False,
        cached: Cached | None = None,
    ) -> None:
        previous = float(state["interval"]) if state.get("interval") else None
        hints = schedule.Hints(
            ttl=float(state["ttl"]) if state.get("ttl") else None,
            skip_hours=frozenset(int(h) for h in state.get("skiph", "").split(",") if h),
            skip_days=frozenset(int(d) for d in state.get("skipd", "").split(",") if d),
        )
        due, interval = schedule.next_poll(
            now,
            self.bounds,
            previous=previous,
            history=history(state.get("history")),
            failed=failed,
            feed_hints=hints,
            cache_max_age=schedule.max_age(cached.cache_control) if cached else None,
        )
        if self.subscriber is not None:
            self.subscriber.maybe_subscribe(fid, state, fields, now)
            now_state = {**state, **{k: str(v) for k, v in fields.items()}}
            due = self.subscriber.due(now_state, due, now, self.bounds.high)
        fields["interval"] = round(interval, 3)
        fields["polled"] = round(now, 3)
        self.follows.finish(fid, due, fields, counts)
