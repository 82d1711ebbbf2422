"""How often a persistent platform retries, and how long one connect may take.

The worker's supervisor (``tasks/supervisor.py``) reads ``PersistentConnector.backoff``
and ``connect_timeout``; IRC and XMPP use these defaults, so a change here changes both.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "CONNECT_TIMEOUT", "RECONNECT"]


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter: attempt 1 waits about ``base`` seconds."""

    base: float = 1.0
    cap: float = 60.0
    jitter: float = 0.5  # the delay is scaled by a random factor in [1 - jitter, 1]

    def delay(self, attempt: int, rand: Callable[[], float] | None = None) -> float:
        raw = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        factor = 1 - self.jitter * (rand or random.random)()
        return round(raw * factor, 3)


# 1 s, 2 s, 4 s ... then a try a minute: a server back after a restart is found quickly,
# one that stays down is not hammered by every connection at once (the jitter spreads them).
RECONNECT = Backoff(base=1.0, cap=60.0)

# Dial (every address), TLS, login and registration together: IRC's registration may
# wait 30 s for a welcome, and XMPP logs in over several round trips.
CONNECT_TIMEOUT = 40.0
