"""The worker process's asyncio loop, in a thread of its own.

Every upstream socket of the process lives on this loop; Celery task threads hand it
coroutines and wait for the result. (Holding a socket inside a running task duplicates
connections under redelivery and blocks shutdown; see FIELD-NOTES.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from asyncio import sslproto
from collections.abc import Coroutine
from typing import Any, TypeVar

from envelopes.errors import UpstreamTimeout

__all__ = ["LoopThread"]

T = TypeVar("T")

# asyncio reads TLS in 256 KiB buffers per connection; a TLS record holds at most 16 KiB
# (RFC 8446 §5.1), so 32 KiB is enough and keeps hundreds of connections small.
TLS_READ_BUFFER = 32 * 1024


class LoopThread:
    def __init__(self, name: str = "sockethub-loop"):
        if getattr(sslproto.SSLProtocol, "max_size", 0) > TLS_READ_BUFFER:
            sslproto.SSLProtocol.max_size = TLS_READ_BUFFER
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

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
