"""The connector contract: a platform's verbs as methods, and what a verb is given.

A connector is Sockethub's platform shape in Python: the schema lives in
``envelopes/platforms/<name>.py``; the connector offers one method per verb (``request-friend``
is ``request_friend``), and only verbs the schema lists are dispatched. A verb returns the
result activity (a dict), or ``None`` to answer with the request's own activity; it raises
an ``envelopes.errors`` error to fail. Anything else it raises becomes an ``internal``
failed reply naming the exception: it never reaches the worker's loop.

Events that are not the answer to a request go out through ``job.emit`` (to this session)
or the connector's ``events`` sink (to any session), both injected, so connectors know
nothing about Redis or Celery.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envelopes.errors import SockethubError, UnknownVerb
from envelopes.registry import Platform
from envelopes.settings import Settings
from envelopes.uploads import MemoryOffers, Offers

__all__ = ["Job", "Connector", "EventSink", "Broadcast", "load_connector_class"]

# (session id, activity) → anything (the outbox returns the event's sequence number)
EventSink = Callable[[str, dict[str, Any]], object]
# (session ids, activity) → per session its event's sequence number, or -1 if it ended
Broadcast = Callable[[list[str], dict[str, Any]], list[int]]


def _no_events(_sid: str, _activity: dict[str, Any]) -> None:
    pass


@dataclass
class Job:
    """One request, as a verb method sees it."""

    verb: str
    activity: dict[str, Any]
    session: str = ""
    request: str = ""
    credentials: dict[str, Any] | None = None
    connection: str = ""  # persistent platforms: the key of the upstream connection
    deadline: float = field(default_factory=lambda: time.time() + 30)
    sink: EventSink = _no_events
    # Set by a persistent runtime once this run of the verb has started upstream (its
    # request's marker is ``r``): a verb may call the runtime more than once.
    started: bool = False

    def emit(self, activity: dict[str, Any]) -> None:
        """Send an event to the session that made this request."""
        self.sink(self.session, activity)

    @property
    def remaining(self) -> float:
        """Seconds left before the gateway answers ``timeout`` on our behalf."""
        return max(0.0, self.deadline - time.time())


class Connector:
    """Base of every connector. Subclasses add one method per verb."""

    def __init__(
        self, platform: Platform, settings: Settings, events: EventSink = _no_events
    ) -> None:
        self.platform = platform
        self.settings = settings
        self.events = events
        # Where a verb makes a file uploadable through the gateway (XMPP's ``upload``);
        # the worker's runner puts the Redis store here.
        self.uploads: Offers = MemoryOffers()

    def broadcast(self, sids: list[str], activity: dict[str, Any]) -> list[int]:
        """One event to many sessions; the worker replaces this with one round trip."""
        out = []
        for sid in sids:
            got = self.events(sid, activity)
            out.append(got if isinstance(got, int) else 0)
        return out

    def start(self) -> None:
        """Start background work (a ``background`` platform's worker calls it at start-up)."""

    def handle(self, job: Job) -> dict[str, Any] | None:
        if job.verb not in self.platform.verbs:
            raise UnknownVerb(
                f"platform type {job.verb} not supported by {self.platform.name} platform."
            )
        method = getattr(self, job.verb.replace("-", "_"), None)
        if method is None:
            raise SockethubError(f"platform method {job.verb} not available")
        return method(job)

    def close(self) -> None:
        """Release upstream resources; called once when the worker shuts down."""


def load_connector_class(path: str) -> type[Connector]:
    """``"package.module:Class"`` → the class, importing the module only now."""
    module_name, _, attr = path.partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Connector)):
        raise TypeError(f"{path} is not a Connector subclass")
    return cls
