"""Requests waiting for the server: each received line or stanza is offered to them.

A request registers a ``check`` before it sends (``expect``), then awaits the answer
(``wait``). Every time something arrives the client offers it (``offer``) to each waiter
in turn; a check answers None (not mine), a protocol failure (the request failed: its
``exception()`` is raised to the waiter) or anything else (done, with that value). A
settled waiter is removed, so one answer never settles a request twice.

Asyncio only: waiters live on the worker's loop with the connection they wait on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from envelopes.errors import SockethubError, UpstreamTimeout

__all__ = ["Failure", "Waiter", "Waiters"]

log = logging.getLogger("sockethub.session")


class Failure(Protocol):
    """A protocol's error value (``IrcError``, ``XmppError``): it knows its reply error."""

    def exception(self) -> SockethubError: ...


@dataclass(eq=False)
class Waiter:
    """One request waiting: ``check`` sees what arrives, ``future`` gets the outcome."""

    check: Callable[..., Any]
    future: asyncio.Future[Any]


class Waiters:
    """The requests waiting on one connection to ``where`` (named in timeouts).

    ``failure`` is the protocol's error type: an outcome of that type fails the waiter.
    Once ``fail_all`` ran (the connection is gone), nothing more is offered."""

    def __init__(self, where: str, failure: type[Any]):
        self.where = where
        self.failure = failure
        self._waiting: list[Waiter] = []
        self._ended = False

    def __iter__(self) -> Iterator[Waiter]:
        return iter(list(self._waiting))

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, waiter: object) -> bool:
        return waiter in self._waiting

    def expect(self, check: Callable[..., Any]) -> Waiter:
        """Register ``check``; call before sending, so no answer can come first."""
        waiter = Waiter(check, asyncio.get_running_loop().create_future())
        self._waiting.append(waiter)
        return waiter

    def discard(self, waiter: Waiter) -> None:
        if waiter in self._waiting:
            self._waiting.remove(waiter)

    async def wait(self, waiter: Waiter, timeout: float, what: str) -> Any:
        """The outcome of ``waiter``; ``UpstreamTimeout`` naming ``what`` after ``timeout``
        seconds (at least 0.1 s: an answer already there is still taken)."""
        try:
            return await asyncio.wait_for(waiter.future, max(0.1, timeout))
        except TimeoutError:
            raise UpstreamTimeout(
                f"{self.where} did not answer {what} within {timeout:.0f} s"
            ) from None
        finally:
            self.discard(waiter)

    def offer(self, *received: Any) -> list[Any]:
        """Show ``received`` to every waiter, settling those whose check answers. Returns
        the failures that failed a waiter (the client does not emit those as events)."""
        failed: list[Any] = []
        for waiter in list(self._waiting):
            if self._ended:
                break  # a check ended the connection: every waiter has its error
            try:
                outcome = waiter.check(*received)
            except Exception:  # a check's bug must not take the connection down
                log.exception("a waiter of %s failed on %r", self.where, received[:1])
                continue
            if outcome is None:
                continue
            self.discard(waiter)
            if waiter.future.done():
                continue  # timed out or cancelled meanwhile
            if isinstance(outcome, self.failure):
                failed.append(outcome)
                waiter.future.set_exception(outcome.exception())
            else:
                waiter.future.set_result(outcome)
        return failed

    def fail_all(self, exc: SockethubError) -> None:
        """The connection is gone: every waiter fails with ``exc``; later offers do nothing."""
        self._ended = True
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            if not waiter.future.done():
                waiter.future.set_exception(exc)
