"""Everything one gateway process shares between its sockets, built once by ``create_app``."""

from __future__ import annotations

import logging
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any, Protocol

import redis as redis_lib

from envelopes import sealing, workermetrics
from envelopes.atrest import AtRest
from envelopes.errors import internal_error
from envelopes.outbox import Outbox
from envelopes.redisclient import redis_client as shared_redis_client
from envelopes.registry import Registry
from envelopes.settings import Settings
from envelopes.vault import Vault

from .enqueue import Enqueuer, RedisEnqueuer
from .kept import KeptSessions
from .metrics import Metrics
from .pump import Heartbeat, Pump, Sweeper
from .push import vapid_public_key
from .ratelimit import AddressLimits, SessionBucket
from .sessions import HEARTBEAT, Session, SessionStore
from .upgrade import CLOSE_WAIT

__all__ = ["Hub", "Attached", "VERSION", "redis_client"]

VERSION = "0.1.0"
MAX_DRAIN = 120.0  # cap of SOCKETHUB_DRAIN_SECONDS: a stop must not hang for long
log = logging.getLogger("sockethub.gateway")


def iso_time(epoch: float) -> str:
    """The protocol's time format (as AS2 ``published``): ISO 8601, UTC, to the second."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def redis_client(url: str, max_connections: int = 200, timeout: float = 10.0) -> redis_lib.Redis:
    # A blocking pool with connect and read timeouts (envelopes/redisclient.py): a paused
    # Redis holds a greenlet at most ``timeout`` seconds, never for ever.
    return shared_redis_client(url, timeout=timeout, max_connections=max_connections)


class Attached(Protocol):
    """A socket fed by the pump (``gateway.stream.SessionStream``, whatever the transport):
    the hub knows this much of it and imports none of the socket modules."""

    session: Session

    @property
    def sid(self) -> str: ...

    def deliver(self, fields: dict[bytes, bytes]) -> None: ...

    def close(self, code: int, reason: str) -> None: ...

    def lost(self) -> None: ...


class Hub:
    def __init__(self, settings: Settings, registry: Registry, enqueuer: Enqueuer | None = None):
        self.settings = settings
        self.registry = registry
        self.gateway_id = secrets.token_hex(6)
        self.redis = redis_client(settings.redis_url, timeout=settings.redis_timeout)
        server = sealing.Keyring.from_secrets(settings.secret, settings.secret_previous)
        kept = KeptSessions(
            self.redis, settings.keep_max, settings.kept_per_address, settings.kept_sessions
        )
        self.sessions = SessionStore(self.redis, server, settings.resume_grace, kept)
        self.vault = Vault(self.redis, server)
        self.atrest = AtRest(self.redis, server)
        # Checked now: a bad VAPID key fails the start, not the first welcome.
        self.vapid_public_key = (
            vapid_public_key(settings.vapid_private_key) if settings.vapid_private_key else ""
        )
        self.outbox = Outbox.from_settings(self.redis, settings, self.atrest)
        # Tasks go onto their queues with the request's marker, on this same client.
        self.enqueuer = enqueuer or RedisEnqueuer(self.outbox.markers, settings.enqueue_batch)
        self.pump = Pump(
            redis_client(settings.redis_url, 4, settings.redis_timeout), self.redis, self.gateway_id
        )
        self.sweeper = Sweeper(self.redis, self.outbox)
        self.heartbeat = Heartbeat(self._touch, HEARTBEAT)
        self.metrics = Metrics()
        self.bucket = SessionBucket(self.redis, settings.rate_limit, settings.rate_burst)
        self.addresses = AddressLimits(
            self.redis,
            settings.max_sockets_per_address,
            settings.new_sessions_per_minute,
            settings.trusted_proxies,
        )
        self._connections: dict[str, Attached] = {}
        self._lock = threading.Lock()
        self._started = False
        self.draining = False  # told to stop: out of the balancer, sockets still served
        self.pump.on_recover = self.drop_lost_sessions

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        self.pump.start()
        self.sweeper.start()
        self.heartbeat.start()
        log.info(
            "gateway %s serving platforms: %s", self.gateway_id, ", ".join(self.registry.names())
        )

    def drain(self) -> None:
        """Told to stop: from now on ``/healthz`` answers 503 and new sockets are refused
        (503, which a balancer retries on another gateway) for ``SOCKETHUB_DRAIN_SECONDS``,
        while the open sockets are still served. The balancer's health check takes this
        process out meanwhile, so when ``shutdown`` then closes the sockets (1001) their
        browsers resume on a gateway still in rotation, not back here."""
        self.draining = True
        wait = min(self.settings.drain_seconds, MAX_DRAIN)
        log.info(
            "gateway %s draining: %d sockets closed in %.1f s",
            self.gateway_id,
            len(self._connections),
            wait,
        )
        time.sleep(wait)

    def shutdown(self) -> None:
        """Close every socket with 1001 so browsers resume on another process at once.

        All at once: each close takes at most ``2 * CLOSE_WAIT`` (a browser that does not
        read is cut instead), so no socket holds up the others or the process's exit."""
        closers = [
            threading.Thread(
                target=conn.close,
                args=(1001, "gateway shutting down; resume on another process"),
                name="sockethub-close",
                daemon=True,
            )
            for conn in list(self._connections.values())
        ]
        for closer in closers:
            closer.start()
        deadline = time.monotonic() + 2 * CLOSE_WAIT + 1
        for closer in closers:
            closer.join(max(0.0, deadline - time.monotonic()))
        self.pump.stop()
        self.sweeper.stop()
        self.heartbeat.stop()

    def welcome(self, session: Session, resume_error: dict[str, Any] | None) -> dict[str, Any]:
        s = self.settings
        frame: dict[str, Any] = {
            "kind": "welcome",
            "session": session.sid,
            "token": session.token,
            "resumed": session.resumed,
            "lastSeq": self.sessions.last_seq(session.sid),
            "platforms": self.registry.describe(),
            "limits": {
                "maxFrameBytes": s.max_frame_bytes,
                "requestTimeout": s.request_timeout,
                "rateLimit": s.rate_limit,
                "rateBurst": s.rate_burst,
                "resumeGrace": s.resume_grace,
                "keepMax": s.keep_max,
            },
            "version": VERSION,
        }
        if s.vapid_private_key:  # Web Push is on: what the browser subscribes with
            frame["push"] = {"vapidPublicKey": self.vapid_public_key}
        if resume_error is not None:
            frame["resumeError"] = resume_error
        if session.keep:
            # A duration of absence: were the socket to close now, the session would be
            # kept until then; each detach moves it on (gateway/kept.py).
            frame["keep"] = session.keep
            frame["keepUntil"] = iso_time(time.time() + session.keep)
        if session.keep_refused is not None:
            frame["keepRefused"] = session.keep_refused
        return frame

    def attach(self, conn: Attached, last_id: bytes | str) -> None:
        self.start()
        with self._lock:
            previous = self._connections.get(conn.session.sid)
            self._connections[conn.session.sid] = conn
        if previous is not None and previous is not conn:
            # Resumed on this same process: the pump now feeds the new socket only, so the
            # old one would never see the takeover entry. Close it here.
            previous.close(4001, "session resumed elsewhere")
        self.pump.add(conn.session.sid, last_id, conn.deliver)

    def detach(self, conn: Attached) -> None:
        sid = conn.session.sid
        self.pump.remove(sid, conn.deliver)
        with self._lock:
            if self._connections.get(sid) is conn:
                del self._connections[sid]
        try:
            self.sessions.detach(sid, conn.session.gen, conn.session)
        except Exception:
            log.exception("could not start the grace period of session %s", sid)
        log.info("session %s detached", sid)

    def drop_lost_sessions(self) -> None:
        """Close the sockets of sessions Redis no longer has (a Redis that kept nothing
        restarted): their browsers resume, hear ``session-expired`` and start afresh,
        instead of talking into a session no reply can reach."""
        with self._lock:
            conns = list(self._connections.values())
        gone = self.sessions.missing([c.sid for c in conns if c.sid]) if conns else set()
        for conn in conns:
            if conn.sid in gone:
                log.warning("session %s is gone from Redis: closing its socket", conn.sid)
                conn.lost()

    def _touch(self) -> None:
        with self._lock:
            sids = list(self._connections)
            kept = [c.session for c in self._connections.values() if c.session.keep]
        self.sessions.touch(sids, kept)
        self.sessions.rewrap_kept()

    def metrics_text(self) -> str:
        ok, health = self.health()
        gauges: dict[str, list[tuple[dict[str, str], float]]] = {
            "sockethub_up": [({}, 1.0 if ok else 0.0)],
            "sockethub_sessions": [({}, float(len(self._connections)))],
        }
        if ok:
            gauges["sockethub_redis_latency_seconds"] = [({}, health["redis"]["latency_ms"] / 1000)]
            gauges["sockethub_queue_depth"] = [
                ({"platform": name}, float(depth)) for name, depth in health["queues"].items()
            ]
        text = self.metrics.render(gauges)
        if ok:  # every live worker process's figures, from Redis (envelopes/workermetrics.py)
            try:
                text += workermetrics.render(workermetrics.read(self.redis))
            except Exception as exc:
                log.warning("reading worker metrics failed: %s", exc)
        return text

    def health(self) -> tuple[bool, dict[str, Any]]:
        started = time.perf_counter()
        try:
            self.redis.ping()
            pipe = self.redis.pipeline(transaction=False)
            for p in self.registry:
                pipe.llen(p.queue)
            depths = pipe.execute()
        except Exception as exc:
            # No library text in an HTTP answer either: the log has it under the ref.
            err = internal_error(log, "health check: Redis did not answer", exc)
            return False, {
                "status": "unavailable",
                "redis": {"ok": False, "error": f"Redis did not answer (ref {err.ref})"},
            }
        return True, {
            "status": "ok",
            "version": VERSION,
            "gateway": self.gateway_id,
            "sessions": len(self._connections),
            "redis": {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1e3, 3)},
            "queues": {p.name: depth for p, depth in zip(self.registry, depths, strict=True)},
        }
