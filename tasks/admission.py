"""The supervisor's side of the fleet-wide governor: wait for a turn, heed a refusal.

Asyncio only, on the worker's loop: every governor call (Redis) and the source address
lookup (DNS) run in a thread. Before each connect attempt ``Admission.turn`` asks the
governor (``tasks/governor.py``); a browser waiting for its first connect waits for its
turn at most half its request timeout, and is otherwise answered at once with an error
naming the limit and its setting; a reconnect or a takeover waits as long as it takes,
telling its sessions why (``reconnecting`` with ``condition``). After a failed connect or
a drop, ``failed`` turns what the server said (``Upstream.refusal``) into the error a
browser reads, pauses the server fleet-wide when it refused an address of ours, and says
whether to retry at all (never after ``banned``).
"""

from __future__ import annotations

import asyncio
import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from connectors.persistent import Refusal, Upstream
from envelopes.errors import (
    PermanentError,
    Refused,
    SockethubError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
    condition_detail,
    internal_error,
    os_reason,
)
from envelopes.registry import CLIENT_ADDRESS

from .governor import CAPS, Slot, Verdict, source_address
from .publisher import RETRYABLE

if TYPE_CHECKING:
    from .supervisor import Supervisor

__all__ = ["Admission", "Failure", "FIRST_SHARE", "connect_error"]

log = logging.getLogger("sockethub.manager")

FIRST_SHARE = 0.5  # of the request timeout a browser's first connect may wait its turn
_CAP_WORDS = {
    "server": "live connections to {s} across the fleet",
    "source": "live connections to {s} from this worker's address {src}",
    "browser": "live connections to {s} for your address",
}


def connect_error(exc: Exception, timeout: float, key: str) -> SockethubError:
    """What a browser may read of a failed connect: ours, the OS's words, or a reference."""
    if isinstance(exc, SockethubError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout(f"could not connect within {timeout:g} s")
    if isinstance(exc, OSError):
        return UpstreamUnavailable(f"could not connect: {os_reason(exc)}")
    return internal_error(log, f"connecting {key} raised", exc)


@dataclass
class Failure:
    """A failed connect or a drop, as the supervisor acts on it."""

    err: SockethubError | None  # the reply's error (None: a drop with nothing to say)
    reason: str  # for the connection event: the server's own words when it refused
    permanent: bool = False  # no retry (a ban, a PermanentError)
    condition: str | None = None  # the refusal's condition, for the event
    pause: float = 0.0  # the fleet-wide pause it caused: the next try waits at least this


class Admission:
    """One supervisor's place at its server."""

    def __init__(self, sup: Supervisor):
        self.sup = sup
        self.slot: Slot | None = None
        try:
            self.server = sup.manager.connector.upstream_server(sup.spec)
        except (KeyError, TypeError, ValueError):
            self.server = None  # credentials the connect itself will refuse, naming them

    @property
    def _name(self) -> str:
        return self.sup.manager.platform.name

    def _count(self, metric: str, amount: float = 1.0, reason: str = "") -> None:
        self.sup.manager.stats.inc(metric, self._name, amount, reason=reason)

    async def turn(self, first: bool) -> None:
        """Return when this connect may go; raise (a first connect only) when it must not."""
        if self.server is None:
            return
        manager = self.sup.manager
        if self.slot is None:
            host, port = self.server
            source = await asyncio.to_thread(source_address, host, port)
            browser = str(self.sup.spec.credentials.get(CLIENT_ADDRESS) or "")
            self.slot = Slot(f"{host}:{port}", self.sup.spec.key, source, browser)
        budget = manager.connector.settings.request_timeout * FIRST_SHARE if first else math.inf
        tries = 0
        while True:
            try:
                verdict = await asyncio.to_thread(manager.governor.admit, self.slot, budget)
            except RETRYABLE as exc:  # Redis away: connect (the fence guards ownership)
                log.warning("connect governor unreachable (%s); connecting anyway", exc)
                return
            if verdict.outcome == "ok":
                if verdict.wait > 0:
                    self._count("sockethub_worker_paced_connects_total")
                    self._count("sockethub_worker_paced_wait_seconds_sum", verdict.wait)
                    await asyncio.sleep(verdict.wait)
                return
            err = self._refusal(verdict)
            self._count("sockethub_worker_connect_refusals_total", reason=str(err.condition))
            if first and (verdict.outcome != "paused" or verdict.wait > budget):
                raise err
            tries += 1
            delay = verdict.wait
            if verdict.outcome == "cap":
                delay = manager.connector.backoff.delay(tries)
            if not first:
                self.sup.announce(
                    "reconnecting",
                    attempt=max(1, tries),
                    delay=delay,
                    reason=err.message,
                    condition=err.condition,
                )
            await asyncio.sleep(delay)

    def _refusal(self, v: Verdict) -> SockethubError:
        assert self.slot is not None
        server, name = self.slot.server, self._name
        if v.outcome == "cap":
            setting = CAPS[v.limit]
            what = _CAP_WORDS[v.limit].format(s=server, src=self.slot.source)
            return Refused(
                f"too many {what} (the limit is {setting}); try again once one closes",
                details=[condition_detail(name, "too-many-connections", limit=setting)],
            )
        if v.outcome == "paused":
            return UpstreamError(
                f"{server} asked us to slow down ({v.text}): no worker connects to it for "
                f"{v.wait:.0f} s more (SOCKETHUB_UPSTREAM_PAUSE)",
                details=[condition_detail(name, "throttled", text=v.text)],
            )
        rate = self.sup.manager.governor.limits.rate
        return UpstreamError(
            f"connects to {server} go at {rate:g}/s across the fleet "
            f"(SOCKETHUB_UPSTREAM_CONNECT_RATE) and this one's turn is {v.wait:.1f} s away, "
            "longer than the request may wait; send it again shortly",
            details=[condition_detail(name, "paced", limit="SOCKETHUB_UPSTREAM_CONNECT_RATE")],
        )

    async def failed(self, up: Upstream, exc: Exception | None, reason: str = "") -> Failure:
        """A connect that raised ``exc``, or (``exc`` None) a drop whose ``reason`` the
        upstream gave: heed what the server said, if it said why."""
        refusal = up.refusal
        if refusal is not None:
            return await self._refused(refusal)
        if exc is None:
            return Failure(None, reason)
        timeout = self.sup.manager.connector.connect_timeout
        err = connect_error(exc, timeout, self.sup.spec.key)
        return Failure(err, err.message, permanent=isinstance(err, PermanentError))

    async def _refused(self, refusal: Refusal) -> Failure:
        name, condition = self._name, refusal.condition
        server = self.slot.server if self.slot is not None else "the server"
        self._count("sockethub_worker_connect_refusals_total", reason=condition)
        detail = [condition_detail(name, condition, text=refusal.text)]
        err: SockethubError
        if condition == "banned":
            err = Refused(f"{server} bans this connection: {refusal.text}", details=detail)
        elif condition == "throttled":
            err = UpstreamError(f"{server} is throttling connects: {refusal.text}", details=detail)
        else:
            err = UpstreamError(
                f"{server} says there are too many connections from this host: {refusal.text}",
                details=detail,
            )
        pause = 0.0
        if refusal.shared and self.slot is not None:
            try:
                gov = self.sup.manager.governor
                pause = await asyncio.to_thread(gov.pause, self.slot.server, refusal.text)
                log.warning(
                    "%s refused us (%s: %s): no connects to it from any worker for %.0f s",
                    server,
                    condition,
                    refusal.text[:200],
                    pause,
                )
            except RETRYABLE as exc:
                log.warning("could not pause %s fleet-wide: %s", server, exc)
        permanent = condition == "banned"
        return Failure(err, refusal.text, permanent, condition, pause)

    def release(self) -> None:
        """The connection ends here: its slots go at once (a dead node's lapse instead).
        From the loop, without waiting: a thread does the Redis part."""
        slot, self.slot = self.slot, None
        if slot is None:
            return
        governor = self.sup.manager.governor

        def go() -> None:
            try:
                governor.release(slot)
            except RETRYABLE:
                pass  # it lapses with the lease timing

        asyncio.get_running_loop().run_in_executor(None, go)
