"""The contract between a persistent connector (IRC, XMPP) and the worker's runtime.

A persistent platform keeps upstream connections open between requests. The worker
process runs one asyncio loop (``tasks/manager.py``) that owns every such connection; the
connector supplies what is protocol-specific:

- ``new_upstream(spec)``: build an ``Upstream`` for a connection (not yet connected);
- verb methods, which reach the live upstream through ``self.runtime``.

An ``Upstream`` connects, reports when it drops, restores its rooms after a reconnect and
closes politely. It sends events through the ``emit`` it was given; the runtime fans them
out to every session sharing the connection. Nothing here imports a socket library.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from envelopes.errors import Refused

from .base import Connector, Job
from .session.activity import activity
from .session.backoff import CONNECT_TIMEOUT, RECONNECT, Backoff

__all__ = [
    "CONNECTION_STATES",
    "LOG_QUERIES",
    "connection_event",
    "ConnectionSpec",
    "Upstream",
    "Runtime",
    "PersistentConnector",
    "Emit",
    "Backoff",
    "Refusal",
    "REFUSALS",
]

T = TypeVar("T")
Emit = Callable[[dict[str, Any]], None]

CONNECTION_STATES = ("connecting", "connected", "reconnecting", "disconnected")
LOG_QUERIES = ("history", "search")
# Why a server refused us, as connection events and failed connects name it (docs/protocol.md).
REFUSALS = (
    "banned",
    "throttled",
    "too-many-connections",
)  # ``query`` object types answered from the own log


def connection_event(
    platform: str,
    state: str,
    actor: dict[str, Any],
    target: dict[str, Any] | None = None,
    *,
    attempt: int | None = None,
    delay: float | None = None,
    reason: str | None = None,
    condition: str | None = None,
) -> dict[str, Any]:
    """The event announcing a connection state, the same shape for every platform::

        {"@context": [... platform], "type": "connect" | "disconnect",
         "actor": <the service>, "target": <the account, when known>,
         "object": {"type": "connection", "state": ..., "attempt"?, "delay"?, "reason"?,
                    "condition"?}}

    ``type`` is ``disconnect`` only for the final ``disconnected`` state; ``condition``
    says why a server refused us or why we wait (``REFUSALS``, ``paced``, ...).
    """
    if state not in CONNECTION_STATES:
        raise ValueError(f"unknown connection state {state!r}; one of {CONNECTION_STATES}")
    obj: dict[str, Any] = {"type": "connection", "state": state}
    named = (("attempt", attempt), ("delay", delay), ("reason", reason), ("condition", condition))
    for key, value in named:
        if value is not None:
            obj[key] = value
    verb = "disconnect" if state == "disconnected" else "connect"
    return activity(platform, verb, actor, target, obj)


@dataclass
class ConnectionSpec:
    """What an upstream needs to (re)connect: the credentials and who asked."""

    key: str  # the connection key (shared only by identical secret-bearing credentials)
    actor: dict[str, Any]  # the AS2 actor of the connect request
    credentials: dict[str, Any]
    rooms: list[str] = field(default_factory=list)  # to rejoin after a reconnect


@dataclass(frozen=True)
class Refusal:
    """A server refusing us in so many words: ``condition`` (one of ``REFUSALS``), its own
    ``text``, and whether it refused an address of ours (``shared``: every connection from
    it is concerned, so the whole fleet backs off) or a browser's own (WEBIRC)."""

    condition: str
    text: str
    shared: bool = True


class Upstream(abc.ABC):
    """One upstream connection, driven by the runtime's supervisor on the worker's loop."""

    # Set by the upstream when the server said why it refuses or drops us (a K-line, a
    # throttle): the runtime then backs off fleet-wide, or never retries (``banned``).
    refusal: Refusal | None = None

    def __init__(self, spec: ConnectionSpec, emit: Emit):
        self.spec = spec
        self.emit = emit

    @abc.abstractmethod
    async def connect(self) -> None:
        """Connect and log in. Raise ``PermanentError`` (no retry) or ``TransientError``."""

    @abc.abstractmethod
    async def wait_closed(self) -> str:
        """Return, with a reason, once the connection is gone (the runtime reconnects).
        Raise ``PermanentError`` instead when reconnecting would be wrong."""

    async def restore(self, rooms: list[str]) -> None:  # noqa: B027 (optional hook)
        """After a reconnect: rejoin ``rooms``. Default: nothing to restore."""

    @abc.abstractmethod
    async def close(self, reason: str) -> None:
        """Leave politely (QUIT, unavailable presence) and close the socket."""

    def identity(self) -> tuple[str, str]:
        """Our own person here, as events name it: ``(id, nick)``. A message whose actor
        has this id is ours; a room message naming the nick mentions us (Web Push). Any
        thread may call it: it only reads attributes."""
        return str(self.spec.actor.get("id", "")), str(self.spec.actor.get("name") or "")

    def state_event(self, state: str, **fields: Any) -> dict[str, Any] | None:
        """The activity announcing a connection state; ``None`` to announce nothing."""
        return None


class Runtime(abc.ABC):
    """What the worker offers a persistent connector (implemented in ``tasks.manager``)."""

    @abc.abstractmethod
    def connect(self, job: Job, spec: ConnectionSpec) -> Upstream:
        """Ensure the connection for ``job`` is up (sharing it when the key matches)."""

    @abc.abstractmethod
    def upstream(self, job: Job) -> Upstream:
        """The live upstream of ``job``'s connection; restored here if its owner died."""

    @abc.abstractmethod
    def call(self, job: Job, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for it, at most until the job's deadline."""

    @abc.abstractmethod
    def disconnect(self, job: Job) -> None:
        """Detach the session; close the upstream when no session is left on it."""

    @abc.abstractmethod
    def remember_room(self, job: Job, room: str, joined: bool) -> None:
        """Record a joined (or left) room, so a reconnect or a failover rejoins it."""

    def log_query(self, job: Job) -> dict[str, Any]:
        """A ``query`` of ``object.type`` ``history`` or ``search``: the completed reply
        (docs/protocol.md). Answered from the connection's own log, which the runtime
        records, merged with the upstream's ``server_history`` where it has one."""
        raise Refused("this worker keeps no history", details=[{"condition": "no-history"}])


class PersistentConnector(Connector):
    runtime: Runtime
    backoff: Backoff = RECONNECT  # connectors/session/backoff.py
    connect_timeout = CONNECT_TIMEOUT

    def bind(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def upstream_server(self, spec: ConnectionSpec) -> tuple[str, int] | None:
        """The server ``spec`` connects to, ``(host, port)``, for the fleet-wide governor
        of connects (``tasks/governor.py``); None: not governed."""
        return None

    @abc.abstractmethod
    def new_upstream(self, spec: ConnectionSpec, emit: Emit) -> Upstream:
        """A fresh, unconnected upstream for ``spec``."""

    def connect(self, job: Job) -> dict[str, Any]:
        """The ``connect`` verb: up (or shared) once the runtime says so; the reply's object
        says who we are upstream (``connected_as``)."""
        assert job.credentials is not None
        spec = ConnectionSpec(job.connection, dict(job.activity["actor"]), job.credentials)
        up = self.runtime.connect(job, spec)
        state = {"type": "connection", "state": "connected", **self.connected_as(up)}
        return {**job.activity, "object": state}

    def receipt(self, job: Job) -> dict[str, Any] | None:
        """``receipt`` other than ``read`` (which the worker keeps itself): a platform with
        delivery receipts overrides this."""
        raise Refused(f"{self.platform.name} has no delivery receipts; only status read")

    def mark_read(self, job: Job, conversation: str, message_id: str) -> None:
        """Hook: the session marked ``conversation`` read up to ``message_id`` (a
        ``receipt`` with ``status: read``). The worker has stored the marker and tells the
        other sessions on the connection; a connector that can mirror it upstream (IRCv3
        ``MARKREAD``, XEP-0333 ``displayed``) does so here, through ``self.runtime``. Called
        only when the marker moved forward. A ``SockethubError`` raised here fails the
        request (the marker stays stored); the default mirrors nothing."""

    def connected_as(self, up: Upstream) -> dict[str, Any]:
        """Fields naming our identity upstream, for the connect reply."""
        return {}

    @staticmethod
    def is_log_query(job: Job) -> bool:
        """A ``query`` for history or search: the runtime answers it (``log_query``)."""
        return (job.activity.get("object") or {}).get("type") in LOG_QUERIES
