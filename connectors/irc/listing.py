"""The one LIST a connection runs at a time, on the worker's loop, and who waits for it.

A big network's list takes minutes at the inbound line budget (``SOCKETHUB_IRC_LINE_RATE``),
so the fetch is a task of the connection, not of the request that started it: a query
waits for it at most ``wait`` seconds and then answers with the count so far (the
session's lane is free again), while the fetch goes on and stores the list when it ends
(``store``, off the loop: it writes Redis). While it runs it renews the server's lease
every ``RENEW_EVERY`` seconds with the count so far (``renew``), so queries on other
workers can say how far it is, and a lease whose holder died lapses within
``roomcache.LEASE_SECONDS``; ``release`` gives the lease back whatever happened. A LIST
may take at most ``MAX_SECONDS``. Asyncio only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from envelopes.errors import UpstreamError

from .ask import END, TAKE, ask
from .lines import Message
from .roomcache import LEASE_SECONDS
from .rooms import Collector, Snapshot

if TYPE_CHECKING:
    from .client import IrcUpstream

__all__ = ["Claim", "Listing", "MAX_SECONDS", "RENEW_EVERY", "list_rooms"]

RENEW_EVERY = LEASE_SECONDS / 6  # seconds between lease renewals of a LIST in progress
MAX_SECONDS = 900.0  # longest a LIST may take: 90,000 channels at 100 lines a second


class Claim:
    """The server's lease, held by whoever asked: ``store`` the list, ``release`` the lease.
    ``taken`` once ``list_rooms`` made it a fetch's (or gave it back): until then the caller
    still holds it, and must release it if the call never ran."""

    def __init__(
        self,
        store: Callable[[Snapshot], None],
        release: Callable[[], None],
        renew: Callable[[int], None] = lambda _seen: None,
    ) -> None:
        self.store = store
        self.release = release
        self.renew = renew
        self.taken = False


class Listing:
    """A LIST in progress: its task and what it has collected so far."""

    def __init__(self, task: asyncio.Task[Snapshot], collector: Collector) -> None:
        self.task = task
        self.collector = collector


def _fallback(msg: Message, _results: list[Any]) -> Any:
    if msg.command == "322":
        return TAKE
    if msg.command == "323":
        return END  # RPL_LISTEND: not a room (``Collector.take`` skips it)
    if msg.command == "263" and len(msg.params) > 1 and msg.params[1].upper() == "LIST":
        return END  # RPL_TRYAGAIN: no list this time (``Collector.busy``)
    return None


async def _renew(claim: Claim, collector: Collector) -> None:
    while True:
        await asyncio.sleep(RENEW_EVERY)
        try:
            await asyncio.to_thread(claim.renew, collector.seen)  # Redis: off the loop
        except Exception:  # Redis away a moment: the next renewal may make it
            continue


async def _fetch(up: IrcUpstream, collector: Collector, claim: Claim) -> Snapshot:
    renewing = asyncio.get_running_loop().create_task(_renew(claim, collector))
    try:
        await ask(
            up,
            "LIST",
            "LIST",
            MAX_SECONDS,
            take=collector.take,
            fallback=_fallback,
            max_lines=None,  # the collector keeps within its own caps
        )
        if collector.busy:  # nothing to keep: the next query asks again
            raise UpstreamError(
                f"{up.host} is too busy to list its channels now (263 RPL_TRYAGAIN); "
                "try again in a while"
            )
        snap = Snapshot.of(collector, int(time.time() * 1000))
        await asyncio.to_thread(claim.store, snap)  # Redis: off the loop
        return snap
    finally:
        renewing.cancel()
        await asyncio.shield(asyncio.to_thread(claim.release))


async def list_rooms(
    up: IrcUpstream,
    wait: float,
    start: Claim | None,
) -> Snapshot | int | None:
    """The list once fetched, or the count of channels so far after ``wait`` seconds.
    ``start`` begins a fetch when none runs; None joins the one running (None when there
    is none here)."""
    running = up.listing is not None and not up.listing.task.done()
    if running and start is not None:
        start.taken = True
        await asyncio.to_thread(start.release)  # the one running holds the lease already
    if not running:
        if start is None:
            return None
        settings = up.settings
        collector = Collector(
            max(1, min(settings.irc_list_max_channels, 500_000)),
            max(1, min(settings.irc_list_max_bytes, 268_435_456)),
        )
        start.taken = True
        task = asyncio.get_running_loop().create_task(_fetch(up, collector, start))
        # Its outcome is also in the cache; one nobody waits for must not be logged as lost.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        up.listing = Listing(task, collector)
        up.track(task)
    listing = up.listing
    assert listing is not None
    try:
        return await asyncio.wait_for(asyncio.shield(listing.task), max(0.1, wait))
    except TimeoutError:
        return listing.collector.seen
