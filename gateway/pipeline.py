"""The request pipeline, the same for every transport.

An activity in: the session's rate limit, validation, the vault (credentials stored, or
looked up for a verb that needs them), the request marker, the enqueue. Every answer, a
refusal included, goes into the session's stream (``envelopes.outbox``) and reaches the
client through ``gateway.stream``, so there is exactly one reply per request whatever
the transport, and a transport never answers a request itself.

A transport (``gateway.connection`` for our WebSocket frames, ``gateway.sio`` for
Socket.IO events) only turns what it received into ``(request id, activity)`` and hands
it to ``Pipeline.submit``; parsing its own framing is its job, and so is refusing a frame
it cannot read, through ``Pipeline.refuse``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from envelopes import keys, logjson
from envelopes.errors import (
    ClientError,
    CredentialsMissing,
    DuplicateRequest,
    RateLimited,
    SockethubError,
    internal_error,
)
from envelopes.markers import NUMBER, tag_of
from envelopes.outbox import failure_frame, reply_frame
from envelopes.registry import CLIENT_ADDRESS
from envelopes.validate import Envelope, validate_envelope

from .enqueue import Acceptance
from .ratelimit import CLOSE, REFUSE, SILENT, Meter
from .sessions import Session

if TYPE_CHECKING:
    from .hub import Hub

__all__ = [
    "Pipeline",
    "Refused",
    "open_session",
    "MAX_VERB_TIMEOUT",
    "RATE_CLOSE",
    "DROP",
    "HANDLE",
    "CUT",
]

log = logging.getLogger("sockethub.pipeline")

MAX_VERB_TIMEOUT = 600.0
RATE_CLOSE = "rate limit exceeded for too long; reconnect later"

# What ``Pipeline.charge`` tells the transport to do with the frame it just read.
HANDLE = "handle"
DROP = "drop"  # do not handle it, say nothing (the client was already told it is limited)
CUT = "cut"  # do not handle it, and close the socket: it went on far too long


class Refused(Exception):
    """The socket is refused before it gets a session (the transport closes it)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason  # the metric's label


def open_session(
    hub: Hub, address: str, resume: Any = None, keep: Any = None
) -> tuple[Session, dict[str, Any] | None]:
    """Resume the session ``resume`` names (``{session, token}``), or start a new one if
    the address may; apply ``keep`` (``hello.keep``, ``gateway.kept``) to it; returns it
    and the resume's error, if the resume failed."""
    resume_error = None
    session = None
    if isinstance(resume, dict):
        try:
            session = hub.sessions.resume(
                resume.get("session"), resume.get("token"), hub.gateway_id
            )
        except SockethubError as exc:
            resume_error = exc.to_dict()
    if session is None:
        if not hub.addresses.new_session(address):
            raise Refused(
                "too many new sessions from your address; resume one, or retry in a minute",
                "sessions-per-address",
            )
        session = hub.sessions.create(hub.gateway_id)
    hub.sessions.set_keep(session, keep, address)
    return session, resume_error


class Pipeline:
    """One session's intake. ``on_lost`` is called when the session is gone from Redis
    (a reply could not be written): the transport then ends the socket."""

    def __init__(self, hub: Hub, session: Session, on_lost: Any, address: str = ""):
        self.hub = hub
        self.session = session
        self.address = address  # the browser's, through the trusted proxies
        self.meter = Meter(hub.bucket, session.sid)
        self._on_lost = on_lost
        # (platform, connection identity) -> the session id for the connection's key, when
        # not this session's (``gateway.sioreattach``); None: always this session's.
        self.key_sid: Callable[[str, tuple[str, bool]], str | None] | None = None

    @property
    def sid(self) -> str:
        return self.session.sid

    def charge(self) -> str:
        """Take one frame's token: ``HANDLE``, ``DROP`` or ``CUT``; raises ``RateLimited``
        for the first frames over the limit (the client is told, then ``DROP``)."""
        verdict = self.meter.charge()
        if verdict == REFUSE:
            s = self.hub.settings
            raise RateLimited(
                f"more than {s.rate_limit:g} requests per second (burst {s.rate_burst}; "
                "pings and invalid frames count too): this frame was not handled, slow down"
            )
        if verdict in (SILENT, CLOSE):
            self.hub.metrics.inc("sockethub_frames_dropped_total", reason="rate-limited")
            return CUT if verdict == CLOSE else DROP
        return HANDLE

    def flush(self) -> None:
        """Charge the session for what this socket sent, for the session's next socket."""
        try:
            self.meter.flush()
        except Exception:
            log.warning("could not charge the last frames of session %s", self.sid)

    def submit(self, rid: str, activity: Any) -> None:
        with logjson.bound(self.sid, rid):  # every line logged meanwhile carries the ids
            self._submit(rid, activity)

    def _submit(self, rid: str, activity: Any) -> None:
        """Run one request; its one answer comes on the session's stream."""
        try:
            self._request(rid, activity)
        except SockethubError as exc:
            self.refuse(rid, exc, None)
        except Exception as exc:
            self.refuse(rid, internal_error(log, "unexpected error handling a request", exc), None)

    def answer(self, frame: dict[str, Any]) -> None:
        """A reply made here, not by a worker (a ``push`` frame's)."""
        if self.hub.outbox.push(self.sid, frame) < 0:
            self._on_lost()

    def refuse(self, rid: str | None, exc: SockethubError, activity: Any) -> None:
        self.hub.metrics.inc("sockethub_refusals_total", code=exc.code)
        echo = activity if isinstance(activity, dict) else None
        if echo is not None and ("object" in echo) and echo.get("type") == "credentials":
            echo = {k: v for k, v in echo.items() if k != "object"}  # never echo secrets
        if self.hub.outbox.push(self.sid, failure_frame(rid, exc.to_dict(), echo)) < 0:
            self._on_lost()

    def _request(self, rid: str, activity: Any) -> None:
        try:
            env = validate_envelope(activity, self.hub.registry)
        except ClientError as exc:
            self.refuse(rid, exc, activity)
            return
        if env.verb == "credentials":
            self._credentials(rid, env)
            return
        verb = env.platform.verbs[env.verb]
        ckey = None
        if verb.needs_credentials:
            stored, ckey = self.hub.vault.lookup(self.sid, env.platform.name, env.actor_id)
            if not stored:
                raise CredentialsMissing(
                    f"credentials not found for {env.platform.name}:{env.actor_id}; send a "
                    "credentials activity for this actor first"
                )
        timeout = min(verb.timeout or self.hub.settings.request_timeout, MAX_VERB_TIMEOUT)
        self._enqueue(rid, env, timeout, ckey)

    def _credentials(self, rid: str, env: Envelope) -> None:
        obj = dict(env.activity["object"])
        obj.pop("type", None)
        identity = None
        if env.platform.connection_identity is not None:
            identity = env.platform.connection_identity(obj)
        wants = env.platform.client_address
        # Also for the governor's cap per browser address (SOCKETHUB_UPSTREAM_MAX_PER_BROWSER).
        needed = (
            getattr(self.hub.settings, wants, None) or self.hub.settings.upstream_max_per_browser
        )
        if wants and self.address and needed:
            obj[CLIENT_ADDRESS] = self.address  # sealed with the rest; not in the identity
        key_sid = None
        if identity is not None and self.key_sid is not None:
            key_sid = self.key_sid(env.platform.name, identity)
        self.hub.vault.store(self.sid, env.platform.name, env.actor_id, obj, identity, key_sid)
        result = {k: v for k, v in env.activity.items() if k != "object"}
        if self.hub.outbox.push(self.sid, reply_frame(rid, result)) < 0:
            self._on_lost()

    def _enqueue(self, rid: str, env: Envelope, timeout: float, ckey: str | None) -> None:
        """Accept and publish in one script (``gateway.enqueue``); a persistent verb's queue
        is looked up between the two, so it is accepted first (marker ``a``): a crash in
        between is answered ``not-sent`` soon, never a lost request (``envelopes.markers``)."""
        hub, sid = self.hub, self.sid
        now = time.time()
        deadline = now + timeout
        marker = hub.atrest.marker(sid, rid, env.activity)
        markers = hub.outbox.markers
        lost_at = now + hub.settings.unsent_grace
        taken = DuplicateRequest(
            f"request id {rid} was already used in this session (its reply comes, or "
            "came, on this session)"
        )
        ttl, first = int(timeout) + 120, bool(env.platform.persistent and ckey)
        if first and not markers.accept(sid, rid, marker, ttl, deadline, lost_at, now):
            raise taken
        acceptance = Acceptance(sid, rid, marker, ttl, deadline, lost_at, now, first)
        lease: list[Any] = []
        if env.platform.persistent and ckey:
            pipe = hub.redis.pipeline(transaction=False)
            # Later verbs go to the node that holds the connection; a new one to the pool.
            pipe.get(keys.lease(env.platform.name, ckey))
            # Numbered per session and connection: the owner runs them in this order. Also
            # listed as pending there, so that a node taking the connection over finds it
            # if its owner dies holding it (``envelopes.markers.NUMBER``; it never
            # re-creates the hash of a session that has just expired).
            name = env.platform.name
            pipe.eval(
                NUMBER,
                2,
                keys.session(sid),
                keys.connection_pending(name, ckey, sid),
                keys.order_field(name, ckey),
                rid,
                int(MAX_VERB_TIMEOUT) + 120,
            )
            lease = pipe.execute()
        payload = {
            "session": sid,
            "request": rid,
            "verb": env.verb,
            "activity": env.activity,
            "deadline": deadline,
            "queued": time.time(),  # the worker's queue wait (envelopes/workermetrics.py)
            "tag": tag_of(marker),  # which acceptance this task is (a resend replaces it)
        }
        queue = env.platform.queue
        if ckey:
            payload["connection"] = ckey
        if lease:
            payload["seq"] = int(lease[1])
        if lease and lease[0]:
            queue = lease[0].decode() if isinstance(lease[0], bytes) else str(lease[0])
        hub.metrics.inc("sockethub_requests_total", platform=env.platform.name, verb=env.verb)
        try:
            sent = hub.enqueuer.send(env.platform, hub.atrest.seal_task(payload), queue, acceptance)
        except Exception as exc:
            err = internal_error(log, f"enqueue to {queue} failed", exc)
            # The one answer if it was accepted; refused (``submit``) if it was not.
            if hub.outbox.reply(sid, rid, failure_frame(rid, err.to_dict(), env.activity)):
                return
            raise err from None
        log.debug("request %s %s queued on %s", env.platform.name, env.verb, queue)
        if not sent and not first:  # (a persistent verb answered meanwhile has its answer)
            raise taken
