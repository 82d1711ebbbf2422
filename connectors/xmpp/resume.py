"""The state of one stream's resumption (XEP-0198 §5) while it is under way.

When a stream the server let us resume loses its socket, ``XmppUpstream`` keeps it and
tries to resume it (``attempt``: each try has ``RESUME_TIMEOUT``, with pauses of
``RESUME_RETRY_DELAYS`` between them, and a server that no longer has the session ends
the tries at once). Meanwhile what the browser sends is ``hold``-ed (up to
``SOCKETHUB_XMPP_MAX_HELD_STANZAS``) and sent once resumed, after slixmpp's resends of
what the server had not acked; iqs wait for ``settled``. Asyncio only.
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET

from envelopes.errors import SockethubError, UpstreamUnavailable

from .stream import SessionGone, Stream, resume_stream

__all__ = ["RESUME_RETRY_DELAYS", "RESUME_TIMEOUT", "Resumption"]

log = logging.getLogger("sockethub.xmpp")

RESUME_TIMEOUT = 15.0
RESUME_RETRY_DELAYS = (1.0, 2.0, 4.0)


class Resumption:
    def __init__(self, max_held: int):
        self.max_held = max_held
        self.task: asyncio.Task[None] | None = None  # set while a resumption is under way
        self.failed = False  # it failed once: this upstream ends, never resumes again
        self.held: list[ET.Element] = []
        self._settled = asyncio.Event()
        self._settled.set()

    @property
    def active(self) -> bool:
        return self.task is not None

    def start(self, task: asyncio.Task[None]) -> None:
        self.task = task
        self._settled.clear()

    def hold(self, element: ET.Element, where: str) -> None:
        if len(self.held) >= self.max_held:
            raise UpstreamUnavailable(
                f"the stream to {where} is being resumed and already holds {self.max_held} "
                "stanzas (SOCKETHUB_XMPP_MAX_HELD_STANZAS); send again once connected"
            )
        self.held.append(element)

    async def attempt(self, x: Stream, address: str, port: int, where: str) -> bool:
        """Try to resume ``x`` at ``address``; True once resumed."""
        for delay in (*RESUME_RETRY_DELAYS, None):
            try:
                await resume_stream(x, address, port, where, RESUME_TIMEOUT)
                return True
            except SockethubError as exc:
                log.info("resuming the stream with %s failed: %s", where, exc.message)
                if isinstance(exc, SessionGone) or delay is None:
                    return False
                await asyncio.sleep(delay)
        return False

    def finish(self, resumed: bool) -> list[ET.Element]:
        """The resumption is over: what was held, to send now (nothing if it failed:
        those requests fail with the upstream)."""
        self.task = None
        self.failed = not resumed
        held, self.held = self.held, []
        return held if resumed else []

    def settle(self) -> None:
        self._settled.set()

    async def settled(self) -> None:
        await self._settled.wait()

    def cancel(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.task = None
        self.held.clear()
        self._settled.set()
