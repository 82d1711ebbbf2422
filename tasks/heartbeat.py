"""The manager's heartbeat and janitor, run every ``HEARTBEAT`` seconds on its own thread.

The heartbeat renews this node's liveness key, its leases (and says when it did: the
fence in ``tasks/fence.py`` counts from there) and the governor's slots of its
connections (``tasks/governor.py``: a dead node's lapse with its leases), and closes
what it must not keep: a connection whose supervisor is gone (never renewed: nobody
would reconnect it), whose lease another node took, or that has no session left (a
session is left while its hash and credentials live: a kept one, ``gateway/kept.py``,
keeps them for its whole keep, so its connections stay up with nobody attached; an
ended one has none). The janitor
takes over every recorded connection without a lease, with what its dead owner left
(``Manager.adopt``). Never on the loop. ``Ends`` wakes the heartbeat early when a browser
ends a session, so its connections go at once rather than at the next beat.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from envelopes import keys
from envelopes.errors import SockethubError

from .governor import Slot
from .records import text
from .supervisor import connection_state

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["heartbeat", "adopt_orphans", "Ends", "ENDS_GAP"]

log = logging.getLogger("sockethub.manager")

ENDS_GAP = 0.5  # seconds at least between two beats woken by ends: a burst costs one pass


class Ends:
    """Wakes the heartbeat as soon as a session is ended on purpose (``end``, published on
    ``keys.sessions_ended``): its connections are then released in well under a second,
    not at the next beat. A message lost (Redis restarting) costs only that wait."""

    def __init__(self, redis: Any, stop: threading.Event):
        self.woken = threading.Event()
        self._redis = redis
        self._stop = stop
        threading.Thread(target=self._listen, name="sockethub-ends", daemon=True).start()

    def wait(self, timeout: float) -> bool:
        """Until the next beat is due or a session ended; False once stopping."""
        self.woken.wait(timeout)
        self.woken.clear()
        return not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self.woken.set()

    def _listen(self) -> None:
        while not self._stop.is_set():
            pubsub = None
            try:
                pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(keys.sessions_ended())
                while not self._stop.is_set():
                    if pubsub.get_message(timeout=1.0) is None:
                        continue
                    while pubsub.get_message(timeout=0.0) is not None:
                        pass  # the pass about to run covers every end so far
                    self.woken.set()
                    self._stop.wait(ENDS_GAP)
            except Exception:
                self._stop.wait(1.0)  # Redis away: the beats go on meanwhile
            finally:
                if pubsub is not None:
                    with contextlib.suppress(Exception):
                        pubsub.close()


def heartbeat(m: Manager) -> None:
    """Renew what is ours; release what lost its supervisor, close what lost its lease or
    its last session."""
    started = time.monotonic()
    m.leases.alive()
    name = m.platform.name
    with m._lock:
        held = list(m.sups.items())
    slots: list[Slot] = []
    for key, sup in held:
        if sup.task is not None and sup.task.done() and not sup.closing:
            # Never renew the lease of a supervisor that is gone: nobody would ever
            # reconnect the connection. (``Supervisor.run`` catches everything; this is
            # the backstop for what it cannot, e.g. a task cancelled from outside.)
            log.error("%s connection %s lost its supervisor; releasing it", name, key[:8])
            reason = "the worker lost this connection's supervisor"
            m.fanout(key, connection_state(sup, "disconnected", reason=reason))
            m._forget(key, sup)
            continue
        if not m.leases.renew(key):  # (a Redis error ends the heartbeat here: not renewed)
            log.warning("lost the lease of %s connection %s; closing it", name, key[:8])
            with m._lock:
                m.sups.pop(key, None)
            m.lanes.drop(key)  # the new owner keeps the order from here
            m.loop.submit(sup.stop("connection moved to another worker"))
            continue
        # Sessions that ended, or whose credentials now open another connection, leave.
        if not m.records.live(key):
            log.info("%s connection %s has no session left; closing", name, key[:8])
            m.loop.submit(m._close(sup, "no session left"))
            continue
        try:
            m.records.reseal(key)  # a rotation in progress: under the new secret
        except SockethubError:
            log.warning("%s connection %s: its record opens under no secret", name, key[:8])
        if (slot := sup.admission.slot) is not None:
            slots.append(slot)
    m.governor.renew(slots)
    m.renewed(started)


def adopt_orphans(m: Manager) -> None:
    """Take over every recorded connection whose lease lapsed (its owner died)."""
    from .manager import Forward

    name = m.platform.name
    for raw in m.redis.smembers(keys.connections(name)):
        key = text(raw)
        if m.local(key) is not None or m.leases.held(key):
            continue
        try:
            m.adopt(key)
        except (Forward, SockethubError):
            continue
