"""Soft and hard time limits for fetch tasks, on every pool, threads included.

Celery's own ``soft_time_limit`` is delivered by a signal and so works only on the prefork
pool; our workers run the threads pool, where Celery ignores both limits and one task
that never returns holds a pool thread for ever. So each task of a platform that is not
persistent runs under ``Watchdog.watch``:

* **soft limit**, just before the request's deadline (or the platform's longest verb
  time, if that comes first): ``TaskTimeLimit`` is raised *inside the task's thread*
  (``PyThreadState_SetAsyncExc``, what a signal does for prefork). It is an
  ``UpstreamTimeout``, so the browser gets a failed ``upstream-timeout`` reply naming the
  limit, before the gateway's own ``timeout`` would come; the thread is free again.
* **hard limit**, ``SOCKETHUB_TASK_TIME_LIMIT_GRACE`` seconds later: a thread blocked in
  one C call (a DNS lookup) sees no exception until the call returns, and a thread cannot
  be killed. The watchdog logs the stuck task and writes the failed reply if none went
  out yet. Celery's ``time_limit`` is set to the same hard limit, so a prefork child is
  killed there too.

Persistent platforms are left out: their tasks only hand work to the worker's event loop
and wait with a timeout of their own.

The exception can land anywhere in the task's Python code, which is why its reply is
written through the outbox (one terminal reply per request, whoever writes first).
"""

from __future__ import annotations

import ctypes
import heapq
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from envelopes.errors import UpstreamTimeout
from envelopes.outbox import failure_frame
from envelopes.registry import Platform
from envelopes.settings import Settings

__all__ = [
    "SOFT_MARGIN",
    "TaskTimeLimit",
    "Watchdog",
    "run_limited",
    "run_limited_many",
    "soft_limit",
]

log = logging.getLogger("sockethub.worker")

SOFT_MARGIN = 0.25  # seconds before the request's deadline: our reply beats the gateway's


class TaskTimeLimit(UpstreamTimeout):
    """Raised in a task's thread at its soft limit (without arguments: an asynchronous
    exception is raised as a class, so each limit gets its own subclass and message)."""

    said = "the request ran past its time limit on the worker and was stopped"

    def __init__(self, message: str | None = None, **kw: Any) -> None:
        super().__init__(message or self.said, **kw)


def soft_limit(platform: Platform, settings: Settings) -> float:
    """The longest a task of ``platform`` may run: its slowest verb's reply deadline."""
    timeouts = [v.timeout or settings.request_timeout for v in platform.verbs.values()]
    return max([settings.request_timeout, *timeouts])


def run_limited(
    runner: Any, watchdog: Watchdog, platform: Platform, payload: dict[str, Any], soft: float
) -> None:
    """``runner.run(platform, payload)`` under the watchdog: soft limit ``SOFT_MARGIN``
    before the request's deadline, or ``soft`` seconds from now if that comes first."""
    sid, rid = payload["session"], payload["request"]
    soft_at, what = _limit(platform, payload, soft)

    def answer(exc: TaskTimeLimit) -> None:
        frame = failure_frame(rid, exc.to_dict(), payload.get("activity"))
        runner.outbox.reply(sid, rid, frame)  # a no-op if the request was answered

    try:
        with watchdog.watch(soft_at, what, answer, f"{what} for {sid}/{rid}"):
            runner.run(platform.name, payload)
    except TaskTimeLimit as exc:  # raised outside the connector: answer it here
        answer(exc)


def run_limited_many(
    runner: Any, watchdog: Watchdog, platform: Platform, payloads: list[Any], soft: float
) -> None:
    """``runner.run_many`` for a gateway's batch, each request under its own limits."""

    def guard(payload: dict[str, Any], answer: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        sid, rid = payload["session"], payload["request"]
        soft_at, what = _limit(platform, payload, soft)

        def on_hard(exc: TaskTimeLimit) -> None:
            frame = failure_frame(rid, exc.to_dict(), payload.get("activity"))
            runner.outbox.reply(sid, rid, frame)

        try:
            with watchdog.watch(soft_at, what, on_hard, f"{what} for {sid}/{rid}"):
                return answer()
        except TaskTimeLimit as exc:  # its reply, in the batch's
            return failure_frame(rid, exc.to_dict(), payload.get("activity"))

    runner.run_many(platform.name, payloads, guard)


def _limit(platform: Platform, payload: dict[str, Any], soft: float) -> tuple[float, str]:
    """The soft limit's time, and what to call the request in its error."""
    now = time.time()
    soft_at = min(now + soft, float(payload.get("deadline", now + soft)) - SOFT_MARGIN)
    # The message may be shared through the HTTP cache: no session or request id in it.
    return soft_at, f"the {platform.name} {payload.get('verb', 'request')}"


@dataclass(order=True)
class _Watch:
    at: float
    seq: int
    thread: int = field(compare=False)
    hard_at: float = field(compare=False)
    what: str = field(compare=False)
    limit: float = field(compare=False)
    on_hard: Callable[[TaskTimeLimit], None] = field(compare=False)
    label: str = field(compare=False)
    lock: threading.Lock = field(compare=False, default_factory=threading.Lock)
    done: bool = field(compare=False, default=False)
    fired: bool = field(compare=False, default=False)
    _exc: type[TaskTimeLimit] | None = field(compare=False, default=None)

    @property
    def exc(self) -> type[TaskTimeLimit]:
        # Built when a limit fires, not for every task: a class per task cost more than
        # the rest of the watch (bench/profile.md).
        if self._exc is None:
            said = (
                f"{self.what} ran past its {self.limit:.1f} s time limit on the worker "
                "and was stopped"
            )
            self._exc = type("TaskTimeLimit", (TaskTimeLimit,), {"said": said})
        return self._exc


def _raise_in(thread: int, exc: type[BaseException] | None) -> int:
    # None clears an exception set but not yet raised (CPython C API).
    return int(
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread), ctypes.py_object(exc) if exc is not None else None
        )
    )


class Watchdog:
    """One thread per process, started on first use, firing the limits of every task."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._heap: list[_Watch] = []
        self._cond = threading.Condition()
        self._seq = 0
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(
        self,
        soft_at: float,
        what: str,
        on_hard: Callable[[TaskTimeLimit], None],
        label: str = "",
    ) -> Iterator[None]:
        """Run the block under a soft limit at ``soft_at`` (epoch seconds) and a hard one
        ``grace`` later. ``what`` is named in the error, ``label`` (default ``what``) in
        the log. ``TaskTimeLimit`` may escape the block: the caller answers it."""
        limit = max(0.0, soft_at - time.time())
        with self._cond:
            self._seq += 1
            w = _Watch(
                soft_at,
                self._seq,
                threading.get_ident(),
                soft_at + self.grace,
                what,
                limit,
                on_hard,
                label or what,
            )
            heapq.heappush(self._heap, w)
            self._start()
            # The thread sleeps until the earliest limit: wake it only if this one is it
            # (a later limit, the usual case, is found when it wakes).
            if self._heap[0] is w:
                self._cond.notify()
        try:
            yield
        finally:
            while True:
                try:
                    with w.lock:
                        w.done = True
                        if w.fired:
                            _raise_in(w.thread, None)  # not raised yet: it never will be
                    break
                except TaskTimeLimit:  # raised right here, after the block: mark it done
                    continue

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="task-limits", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0].at > time.time():
                    wait = self._heap[0].at - time.time() if self._heap else None
                    self._cond.wait(wait)
                w = heapq.heappop(self._heap)
            try:
                self._fire(w)
            except Exception:  # one bad watch must not stop the limits of the others
                log.exception("time limit of %s failed to fire", w.label)

    def _fire(self, w: _Watch) -> None:
        with w.lock:
            if w.done:
                return
            if not w.fired:
                w.fired = True
                log.warning("soft time limit: stopping %s", w.label)
                _raise_in(w.thread, w.exc)
                w.at = w.hard_at
                with self._cond:
                    heapq.heappush(self._heap, w)
                return
        log.error(
            "hard time limit: %s is still running %.1f s past its soft limit (stuck in a "
            "blocking call?); its pool thread stays busy until it returns",
            w.label,
            self.grace,
        )
        w.on_hard(w.exc())
