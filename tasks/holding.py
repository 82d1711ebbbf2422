"""Verbs held while their connection is restored, and those a dead owner left behind.

A lane asks ``gate`` before each verb (``tasks/order.py``). While the connection is being
restored (a reconnect, a takeover, the first connect still under way) the answer is no:
the lane keeps its verbs, the Celery thread that brought them returns, and the lane's
wake-up waits here until the supervisor says the connection is up with its rooms
rejoined (``notify``, called on the loop) or given up (then the verbs run and fail saying
so). Woken lanes run on this process's lane threads (``SOCKETHUB_LANE_THREADS``), in
order; a held verb whose deadline comes first is answered ``reconnecting`` by its lane
(``held_too_long``), never left to the sweeper's ``timeout``.

On a takeover, ``recover`` puts the verbs the dead owner had taken off Redis back in their
lanes (``tasks/recovery.py``). No Redis on the loop: ``notify`` only hands lanes over.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from envelopes.errors import Reconnecting, SockethubError
from envelopes.outbox import failure_frame

from .recovery import pending_verbs

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["Holding", "LANE_THREADS_CAP"]

log = logging.getLogger("sockethub.manager")

LANE_THREADS_CAP = 64  # cap of SOCKETHUB_LANE_THREADS


class Holding:
    def __init__(self, manager: Manager, threads: int):
        self.manager = manager
        self.name = manager.platform.name
        self.pool = concurrent.futures.ThreadPoolExecutor(
            max(1, min(threads, LANE_THREADS_CAP)), thread_name_prefix=f"sockethub-{self.name}-lane"
        )
        self._waiters: dict[str, list[Callable[[], None]]] = {}  # key → held lanes' wake-ups
        self._lock = threading.Lock()  # guards ``_waiters``; taken briefly on the loop too
        # The runner's way to run a verb rebuilt from its marker (an opened payload).
        self.run_recovered: Callable[[dict[str, Any]], None] = lambda _payload: None

    def resume(self, fn: Callable[[], None]) -> None:
        try:
            self.pool.submit(fn)
        except RuntimeError:  # shutting down: the lane stays held, its verbs pending
            log.debug("a woken %s lane is left to the next owner", self.name)

    def gate(self, key: str, wake: Callable[[], None]) -> bool:
        """Whether a lane of connection ``key`` may run its next verb now; if not (the
        connection is being restored), ``wake`` is called once it is up or given up."""
        m = self.manager
        if m.stopping:
            # Held for good: this node is leaving, and the node taking the connection over
            # runs them from their markers (they are still pending), rather than this one
            # failing them on its way out.
            return False
        sup = m.local(key)
        if sup is None:
            if not m.records.exists(key):
                return True  # a new connection's ``connect``, or ``not-connected``
            from .manager import Forward

            try:
                sup = m.adopt(key)
            except (Forward, SockethubError):  # the verb forwards, or fails saying why
                return True
        with self._lock:
            if sup.ready.is_set() or sup.closing or (sup.task is not None and sup.task.done()):
                return True
            if m.local(key) is not sup:
                return True
            self._waiters.setdefault(key, []).append(wake)
        return False

    def notify(self, key: str) -> None:
        """The connection is up (rooms rejoined), or will not be: wake its held lanes.
        Called on the loop as well: it only hands them to the lane threads."""
        with self._lock:
            woken = self._waiters.pop(key, [])
        for wake in woken:
            wake()

    def held_too_long(self, payload: dict[str, Any]) -> None:
        """A verb held while its connection was restored, at its deadline's margin: it
        was not sent; answer ``reconnecting`` (not the sweeper's ``timeout``)."""
        sup = self.manager.local(str(payload.get("connection", "")))
        if sup is not None and sup.ready.is_set():  # back, but its turn came too late
            err = Reconnecting(
                f"the {self.name} connection was restored too late: this request, held "
                "meanwhile, could not run before its deadline; it was not sent: send it again"
            )
        else:
            why = f" ({sup.restoring})" if sup is not None and sup.restoring else ""
            err = Reconnecting(
                f"the {self.name} connection was being restored{why} until the request's "
                "deadline; it was not sent: send it again once the connection is back"
            )
        self._answer(payload["session"], payload["request"], err, payload)

    def _answer(self, sid: str, rid: str, err: SockethubError, payload: dict[str, Any]) -> None:
        outbox = self.manager.outbox
        activity = payload.get("activity")
        if activity is None and "sealed" in payload:
            try:
                activity = outbox.sealer.open_task(payload)["activity"]
            except (SockethubError, ValueError):
                activity = None
        outbox.reply(sid, rid, failure_frame(rid, err.to_dict(), activity))

    def recover(self, key: str) -> None:
        """After taking ``key`` over: put the verbs its dead owner had taken off Redis
        back in their lanes. Runs none of them on this thread."""
        m = self.manager
        sessions = list(m.records.members(key))
        pending = pending_verbs(self.name, key, sessions, m.redis, m.outbox.sealer)
        rerun = started = 0
        for item in pending:
            lane = (key, item.session)
            payload = item.payload
            if payload is not None:
                rerun += 1
                m.lanes.submit(
                    lane,
                    item.seq,
                    lambda p=payload: self.run_recovered(p),  # type: ignore[misc]
                    float(payload["deadline"]),
                    lambda p=payload: self.held_too_long(p),  # type: ignore[misc]
                    inline=False,
                )
                continue
            if item.started:
                started += 1
                err = Reconnecting(
                    f"the {self.name} worker holding the connection stopped while this "
                    "request was running; it may or may not have reached the server"
                )
                self._answer(item.session, item.request, err, {"activity": item.activity})
            m.lanes.submit(lane, item.seq, lambda: None, inline=False)  # its place only
        if pending:
            log.info(
                "%s connection %s: %d verb(s) of its dead owner put back in their lanes, %d "
                "answered as interrupted",
                self.name,
                key[:8],
                rerun,
                started,
            )

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
