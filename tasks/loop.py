"""The worker process's asyncio loop, in a thread of its own.

Every upstream socket of the process lives on this loop; Celery task threads hand it
coroutines and wait for the result. (Holding a socket inside a running task duplicates
connections under redelivery and blocks shutdown.)

Nothing on the loop may block (no Redis, no DNS, no lock shared with a task thread): a
probe ticks every ``LAG_TICK`` seconds and logs a warning naming how long the loop was
held whenever a tick comes more than ``LAG_WARN`` late (at most once per ``LAG_EVERY``
seconds, with the worst since the last warning), so a blocking call shows in the log.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from asyncio import sslproto
from collections.abc import Coroutine
from typing import Any, TypeVar

from envelopes.errors import UpstreamTimeout

__all__ = ["LoopThread"]

T = TypeVar("T")

log = logging.getLogger("sockethub.loop")

LAG_TICK = 0.02  # seconds between probe ticks
LAG_WARN = 0.05  # a tick this late means something held the loop
LAG_EVERY = 1.0  # at most one warning a second

# asyncio reads TLS in 256 KiB buffers per connection; a TLS record holds at most 16 KiB
# (RFC 8446 §5.1), so 32 KiB is enough and keeps hundreds of connections small.
TLS_READ_BUFFER = 32 * 1024


class LoopThread:
    def __init__(self, name: str = "sockethub-loop"):
        if getattr(sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
            sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
        self.name = name
        self.loop = asyncio.new_event_loop()
        self.max_lag = 0.0  # the worst lateness seen since start (seconds)
        self._lag_unreported = 0.0
        self._lag_logged = 0.0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._tick, time.monotonic() + LAG_TICK)
        self.loop.run_forever()

    def _tick(self, due: float) -> None:
        now = time.monotonic()
        lag = now - due
        if lag > self.max_lag:
            self.max_lag = lag
        if lag > LAG_WARN:
            self._lag_unreported = max(self._lag_unreported, lag)
        if self._lag_unreported and now - self._lag_logged >= LAG_EVERY:
            log.warning(
                "%s was blocked for %d ms (a blocking call on the event loop?)",
                self.name,
                round(self._lag_unreported * 1000),
            )
            self._lag_unreported, self._lag_logged = 0.0, now
        self.loop.call_later(LAG_TICK, self._tick, now + LAG_TICK)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float, what: str = "upstream") -> T:
        """Run ``coro`` on the loop and wait at most ``timeout`` seconds for its result."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.call from the loop itself would deadlock")
        fut = self.submit(coro)
        try:
            return fut.result(timeout=max(0.01, timeout))
        except concurrent.futures.TimeoutError:
            fut.cancel()
            raise UpstreamTimeout(f"{what} did not answer within {timeout:.1f} s") from None

    def stop(self, timeout: float = 5) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout)
