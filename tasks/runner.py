"""Running one request in a worker: credentials, connector, reply.

The Celery task is only an entry point; this is the logic, testable without Celery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from connectors.base import Connector, Job, load_connector_class
from connectors.persistent import PersistentConnector
from envelopes import logjson, sealing
from envelopes.atrest import AtRest
from envelopes.errors import SockethubError, UpstreamUnavailable, internal_error
from envelopes.outbox import Outbox, event_frame, failure_frame, reply_frame
from envelopes.registry import Platform, Registry
from envelopes.settings import Settings
from envelopes.uploads import Uploads
from envelopes.vault import Vault
from envelopes.workermetrics import WorkerStats

from .logpages import stamp
from .manager import Forward, Manager, StartedElsewhere
from .reading import is_read_marker, mark_read, with_conversations

# Verbs whose result is not pushed to the other sessions of a shared connection (an
# upload's reply carries the one-time URL of the session that asked).
_NOT_TO_PEERS = frozenset({"connect", "disconnect", "upload"})

__all__ = ["Runner", "MAX_HOPS"]

log = logging.getLogger("sockethub.worker")

MAX_HOPS = 4  # a task forwarded more often than this is answered, not bounced again

Forwarder = Callable[[Platform, str, dict[str, Any]], None]
# Runs one request's answer (the callable) for its payload, under its time limit.
Guard = Callable[[dict[str, Any], Callable[[], dict[str, Any]]], dict[str, Any]]


def _dropped(sid: str, rid: str) -> None:
    # Answered already (``not-sent``, ``timeout``), or a resend of the id took this copy's
    # place: running it now would run the request twice.
    log.info("dropping %s/%s: answered already, or replaced by a resend", sid, rid)


class Runner:
    def __init__(
        self,
        settings: Settings,
        registry: Registry,
        redis: Any,
        node_queue: str = "",
        forward: Forwarder | None = None,
    ):
        self.settings = settings
        self.registry = registry
        self.redis = redis
        self.node_queue = node_queue
        self.forward = forward
        server = sealing.Keyring.from_secrets(settings.secret, settings.secret_previous)
        self.atrest = AtRest(redis, server)
        self.outbox = Outbox.from_settings(redis, settings, self.atrest)
        self.vault = Vault(redis, server)
        self._connectors: dict[str, Connector] = {}
        self._managers: dict[str, Manager] = {}
        self._lock = threading.Lock()
        self._closed = False
        node = (node_queue or "local").removesuffix(".dq")
        self.stats = WorkerStats(redis, node, settings.lease_seconds / 3)

    def start_persistent(self, queues: set[str] | None = None) -> None:
        """Start the connection managers now, so failover runs before any task arrives.

        ``queues``: the queues this worker consumes; other platforms are left alone."""
        self.stats.start()
        for platform in self.registry:
            if queues is not None and platform.queue not in queues:
                continue
            if platform.persistent:
                self.connector(platform)
            elif platform.background:  # feeds: the poller of followed feeds
                self.connector(platform).start()

    def connector(self, platform: Platform) -> Connector:
        with self._lock:
            if self._closed:  # a verb left in a lane at shutdown must not start it all again
                raise UpstreamUnavailable("the worker is shutting down; send it again")
            conn = self._connectors.get(platform.name)
            if conn is None:
                cls = load_connector_class(platform.connector)
                conn = cls(platform, self.settings, self.outbox.event)
                conn.broadcast = self._broadcast  # type: ignore[method-assign]
                s = self.settings
                conn.uploads = Uploads(
                    self.redis,
                    self.atrest,
                    s.upload_ttl,
                    s.upload_timeout,
                    per_session=s.upload_max_per_session,
                )
                if isinstance(conn, PersistentConnector):
                    manager = self._managers[platform.name] = Manager(
                        platform,
                        conn,
                        self.redis,
                        self.outbox,
                        self.vault,
                        self.node_queue or f"{platform.name}.local",
                    )
                    manager.stats = self.stats
                    self.stats.connections(platform.name, manager.held_count)
                    # A verb a dead owner held, rebuilt from its marker (already opened).
                    name = platform.name
                    manager.holding.run_recovered = lambda p: self._run_open(name, p)
                self._connectors[platform.name] = conn
            return conn

    def _broadcast(self, sids: list[str], activity: dict[str, Any]) -> list[int]:
        """One event into many sessions' streams, one pipeline (``Outbox.push_many``)."""
        return self.outbox.push_many([(sid, event_frame(activity)) for sid in sids])

    def run(self, platform_name: str, payload: dict[str, Any]) -> None:
        """Run one task; a persistent connection's verbs in their session's order."""
        with logjson.bound(str(payload.get("session", "")), str(payload.get("request", ""))):
            self._route(platform_name, payload)

    def _route(self, platform_name: str, payload: dict[str, Any]) -> None:
        key, seq = str(payload.get("connection") or ""), payload.get("seq")
        try:
            manager = self._manager(platform_name) if key and seq is not None else None
        except SockethubError:
            manager = None  # shutting down: ``_run`` answers with it
        if manager is None:
            self._run(platform_name, payload)
            return
        try:
            manager.admit(key)
        except Forward as fwd:
            self._forward(platform_name, payload, fwd)
            return
        lane = (key, str(payload["session"]))
        manager.in_order(
            lane,
            int(payload["seq"]),
            lambda: self._run(platform_name, payload),
            float(payload.get("deadline", time.time() + self.settings.request_timeout)),
            lambda: manager.holding.held_too_long(payload),  # held by its connection
            gated=payload.get("verb") != "disconnect",  # needs no connection up
        )

    def _manager(self, platform_name: str) -> Manager | None:
        platform = self.registry.get(platform_name)
        if platform is None or not platform.persistent:
            return None
        self.connector(platform)  # builds the manager on first use
        with self._lock:
            return self._managers.get(platform_name)

    def _run(self, platform_name: str, payload: dict[str, Any]) -> None:
        opened = self._open(payload)
        if opened is not None:
            self._run_open(platform_name, opened[0])

    def _run_open(self, platform_name: str, payload: dict[str, Any]) -> None:
        """Run a task whose activity is open (``_open``, or rebuilt from its marker by a
        node taking its connection over)."""
        with logjson.bound(payload["session"], payload["request"]):  # on a lane's thread too
            self._run_bound(platform_name, payload)

    def _run_bound(self, platform_name: str, payload: dict[str, Any]) -> None:
        sid, rid = payload["session"], payload["request"]
        if "queued" in payload:
            self.stats.waited(platform_name, time.time() - float(payload["queued"]))
        deadline = float(payload.get("deadline", time.time() + self.settings.request_timeout))
        if time.time() > deadline:
            log.info("dropping %s/%s: past its deadline", sid, rid)
            return
        if not self.outbox.markers.claim(sid, rid, str(payload.get("tag") or "")):
            # Answered already (``not-sent``, ``timeout``), running or run from another copy
            # (``r``), or a resend of the id took this copy's place: never twice.
            _dropped(sid, rid)
            return
        try:
            frame = self._answer(platform_name, payload, payload["activity"], deadline)
        except Forward as fwd:
            self._forward(platform_name, payload, fwd)
            return
        except StartedElsewhere:
            log.info("dropping %s/%s: another copy of it went upstream", sid, rid)
            return
        if payload["verb"] == "send" and frame.get("status") == "completed":
            self._log_own(platform_name, payload, frame.get("result"))
        written = self.outbox.reply(sid, rid, frame)
        if written == 0:
            log.info("reply to %s/%s dropped: already answered (timeout?)", sid, rid)
        elif written > 0 and frame.get("status") == "completed":
            self._to_peers(platform_name, payload, frame.get("result"))

    def _log_own(self, platform_name: str, payload: dict[str, Any], result: Any) -> None:
        """Our message, in the connection's own log (``tasks/ownlog.py``) before its reply:
        a history query sent after the reply finds it."""
        key = str(payload.get("connection") or "")
        with self._lock:
            manager = self._managers.get(platform_name)
        if manager is None or not key or not isinstance(result, dict):
            return
        try:
            manager.ownlog.record([(key, result, True)])
        except Exception:
            log.warning("could not log a message sent on %s", key[:8], exc_info=True)

    def _to_peers(self, platform_name: str, payload: dict[str, Any], result: Any) -> None:
        """A verb's result, as an event to the other sessions on its connection: a tab
        sees what a sibling tab sent (IRC does not echo it), as Sockethub pushes a job's
        result to its instance's other sessions. Not ``connect``/``disconnect``: joining
        or leaving a shared connection is no news to the others."""
        key = str(payload.get("connection") or "")
        if not key or payload["verb"] in _NOT_TO_PEERS or not isinstance(result, dict):
            return
        with self._lock:
            manager = self._managers.get(platform_name)
        if manager is None:
            return
        if payload["verb"] == "query" and PersistentConnector.is_log_query(
            Job("query", payload["activity"])
        ):
            return  # a page of history is for who asked
        try:
            peers = [s for s in manager.records.members(key) if s != payload["session"]]
            if peers:
                self.outbox.push_many([(peer, event_frame(result)) for peer in peers])
        except Exception:
            # The requester has its reply; the others miss one event, which is logged.
            log.warning("could not tell the other sessions of %s", key, exc_info=True)

    def run_many(
        self, platform_name: str, payloads: list[dict[str, Any]], guard: Guard | None = None
    ) -> None:
        """A batch of a ``batchable`` platform (gateway/enqueue.py): its claims in one
        round trip, each request run in turn (under ``guard``: its time limit), their
        replies in one more."""
        ready = [o for o in map(self._open, payloads) if o is not None]
        claims = self.outbox.markers.claim_many(
            [(p["session"], p["request"], str(p.get("tag") or "")) for p, _d in ready]
        )
        replies: list[tuple[str, str, dict[str, Any]]] = []
        for (payload, deadline), claimed in zip(ready, claims, strict=True):
            sid, rid = payload["session"], payload["request"]
            if not claimed:
                _dropped(sid, rid)
                continue

            def answer(p: dict[str, Any] = payload, d: float = deadline) -> dict[str, Any]:
                return self._answer(platform_name, p, p["activity"], d)

            try:
                frame = guard(payload, answer) if guard is not None else answer()
            except Forward as fwd:  # a batch is never persistent; never bounce it for ever
                self._forward(platform_name, payload, fwd)
                continue
            replies.append((sid, rid, frame))
        for (sid, rid, _f), seq in zip(replies, self.outbox.reply_many(replies), strict=True):
            if seq == 0:
                log.info("reply to %s/%s dropped: already answered (timeout?)", sid, rid)

    def _open(self, payload: dict[str, Any]) -> tuple[dict[str, Any], float] | None:
        """The payload with its activity opened, and its deadline; None if it is dropped
        (answered here if it cannot be opened)."""
        sid, rid = payload["session"], payload["request"]
        try:  # the activity travels sealed (envelopes.atrest): open it before anything
            payload = self.atrest.open_task(payload)
        except SockethubError as exc:  # its session ended, or it was tampered with
            log.info("dropping %s/%s: %s", sid, rid, exc.message)
            self.outbox.reply(sid, rid, failure_frame(rid, exc.to_dict()))
            return None
        deadline = float(payload.get("deadline", time.time() + self.settings.request_timeout))
        if time.time() > deadline:
            log.info("dropping %s/%s: past its deadline", sid, rid)
            return None
        return payload, deadline

    def _forward(self, platform_name: str, payload: dict[str, Any], fwd: Forward) -> None:
        sid, rid = payload["session"], payload["request"]
        hops = int(payload.get("hops", 0)) + 1
        platform = self.registry.get(platform_name)
        if self.forward is not None and platform is not None and hops <= MAX_HOPS:
            log.info("forwarding %s/%s to %s", sid, rid, fwd.queue)
            self.forward(platform, fwd.queue, {**payload, "hops": hops})
            return
        err = UpstreamUnavailable("the connection is moving between workers; try again")
        frame = failure_frame(rid, err.to_dict(), payload["activity"])
        if self.outbox.reply(sid, rid, frame) == 0:
            log.info("reply to %s/%s dropped: already answered (timeout?)", sid, rid)

    def _answer(
        self, platform_name: str, payload: dict[str, Any], activity: dict[str, Any], deadline: float
    ) -> dict[str, Any]:
        sid, rid, verb = payload["session"], payload["request"], payload["verb"]
        try:
            platform = self.registry.get(platform_name)
            if platform is None:
                raise SockethubError(f"platform {platform_name} is not enabled on this worker")
            credentials = None
            spec = platform.verbs.get(verb)
            if spec is not None and spec.needs_credentials:
                credentials = self.vault.load(sid, platform.name, str(activity["actor"]["id"]))
            job = Job(
                verb=verb,
                activity=activity,
                session=sid,
                request=rid,
                credentials=credentials,
                connection=str(payload.get("connection", "")),
                deadline=deadline,
                sink=self.outbox.event,
            )
            result = self._handle(platform, job)
            if platform.persistent and verb == "send":
                # Our message's id and time, the same in the reply, to peers and in history.
                result = stamp(activity if result is None else result)
            return reply_frame(rid, activity if result is None else result)
        except (Forward, StartedElsewhere):
            raise
        except SockethubError as exc:
            return failure_frame(rid, exc.to_dict(), activity)
        except Exception as exc:
            # The reply names only a reference; the log has the exception under it.
            err = internal_error(log, f"connector {platform_name} raised on {verb}", exc)
            return failure_frame(rid, err.to_dict(), activity)

    def _handle(self, platform: Platform, job: Job) -> dict[str, Any] | None:
        """The connector's verb; a read marker is the worker's own (``tasks/reading``)."""
        connector = self.connector(platform)
        manager = self._managers.get(platform.name)
        if manager is None or not isinstance(connector, PersistentConnector):
            return connector.handle(job)
        if is_read_marker(job.verb, job.activity):
            return mark_read(manager, connector, job)
        result = connector.handle(job)
        if job.verb == "connect" and result is not None:
            return with_conversations(manager, job, result)
        return result

    def close(self) -> None:
        with self._lock:
            self._closed = True
            managers, self._managers = list(self._managers.values()), {}
            conns, self._connectors = list(self._connectors.values()), {}
        self.stats.stop()
        for manager in managers:
            manager.close()
        for conn in conns:
            try:
                conn.close()
            except Exception:
                log.exception("closing connector %s failed", conn.platform.name)
