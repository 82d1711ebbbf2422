"""The fence: a node cut off from Redis stops acting as the owner of its connections.

On the loop, which never waits on Redis (``Manager.renewed`` notes each heartbeat that
renewed everything): past ``Manager.fence_s`` without a renewal, every connection is
closed before its lease can lapse and another node claim it, so that no connection ever
has two live owners (docs/deployment.md, "Fencing"). What it closed is released, for
any node to take, once Redis is back (``Manager.renewed``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["fence_watch", "FENCE_CHECK"]

log = logging.getLogger("sockethub.manager")

FENCE_CHECK = 1.0  # seconds between two looks at the last renewal, at most


async def fence_watch(m: Manager) -> None:
    """On the loop, which never waits on Redis: past ``fence_s`` without a renewal,
    close every connection before its lease can lapse and another node claim it, so
    that no connection ever has two live owners (docs/deployment.md, "Fencing")."""
    while not m._stop.is_set():
        await asyncio.sleep(min(FENCE_CHECK, (m.heartbeat_s * 3 - m.fence_s) / 4))
        silent = time.monotonic() - m.renewed_at
        if silent <= m.fence_s:
            continue
        with m._lock:
            held = list(m.sups.items())
            m.sups.clear()
        if not held:
            continue
        log.error(
            "no lease renewal for %.1f s (Redis unreachable?): closing %d %s connection(s) "
            "before another node takes them over",
            silent,
            len(held),
            m.platform.name,
        )
        for key, _sup in held:
            m._fenced.add(key)
            m.lanes.drop(key)
        await asyncio.gather(
            *(sup.stop("moving to another server", announce=None) for _k, sup in held),
            return_exceptions=True,
        )
