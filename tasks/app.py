"""The Celery app: queues and routes generated from the registry, one task per platform.

``sockethub worker dummy`` (``celery -A tasks.app worker -Q dummy``) runs it. Creating the
app connects to nothing; the runner and its Redis client are built on first use.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery, signals
from kombu import Queue

from envelopes import logjson
from envelopes.redisclient import redis_client
from envelopes.redisurl import celery_broker
from envelopes.registry import Platform, Registry, default_registry
from envelopes.settings import ConfigError, Settings
from envelopes.uploads import UPLOAD_TASK

from . import startup
from .limits import Watchdog, run_limited, run_limited_many, soft_limit
from .runner import Runner
from .uploads import send_upload

__all__ = ["app", "make_celery", "routes_for", "queues_for"]

log = logging.getLogger("sockethub.worker")


def routes_for(registry: Registry) -> dict[str, dict[str, str]]:
    return {p.task_name: {"queue": p.queue, "routing_key": p.queue} for p in registry}


def queues_for(registry: Registry) -> list[Queue]:
    return [Queue(p.queue, routing_key=p.queue) for p in registry]


class _Lazy:
    """The process's runner, built on first use (never at import)."""

    def __init__(self, settings: Settings, registry: Registry):
        self.settings = settings
        self.registry = registry
        self._runner: Runner | None = None
        self._lock = threading.Lock()
        self.node_queue = ""
        self.consumed: set[str] | None = None
        self.forward: Any = None

    def get(self) -> Runner:
        with self._lock:
            if self._runner is None:
                self.settings.require("redis_url", "secret")
                # Timeouts on every call: a paused Redis must not hold the heartbeat (and
                # with it our leases) or a task thread for ever.
                client = redis_client(
                    self.settings.redis_url,
                    timeout=self.settings.redis_timeout,
                    max_connections=64,
                )
                self._runner = Runner(
                    self.settings,
                    self.registry,
                    client,
                    node_queue=self.node_queue,
                    forward=self.forward,
                )
            return self._runner

    def close(self) -> None:
        with self._lock:
            runner, self._runner = self._runner, None
        if runner is not None:
            runner.close()


def make_celery(settings: Settings, registry: Registry) -> Celery:
    # A Sentinel REDIS_URL becomes kombu's sentinel:// broker and its group option.
    broker, sentinel_options = celery_broker(settings.redis_url or "redis://127.0.0.1:6379/0")
    app = Celery("sockethub", broker=broker)
    app.conf.update(
        task_routes=routes_for(registry),
        task_queues=queues_for(registry),
        task_ignore_result=True,
        task_acks_late=False,
        # One task at a time per thread: a slow IRC join must not hold back others queued
        # behind it on the same node (FIELD-NOTES: prefetch 1 for persistent platforms).
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        broker_connection_retry_on_startup=True,
        # No ack emulation on the Redis transport: it writes every task into kombu's
        # ``unacked`` hash and index as a worker takes it and removes it at the ack (two
        # transactions and two new redis-py clients per task, a third of the worker's CPU
        # in bench/profile.md), to put back a task whose worker died after the visibility
        # timeout, long past its request's deadline: it would only expire. Nothing is
        # lost that was not already: the sweeper answers a lost request ``timeout``; a
        # clean stop still puts back what a worker took but did not start.
        broker_transport_options={"ack_emulation": False, **sentinel_options},
    )
    lazy = _Lazy(settings, registry)

    def forward(platform: Any, queue: str, payload: dict[str, Any]) -> None:
        expires = max(1.0, float(payload["deadline"]) - time.time())
        app.send_task(
            platform.task_name,
            args=(lazy.get().atrest.seal_task(payload),),  # sealed again, as it came
            queue=queue,
            routing_key=queue,
            expires=expires,
            ignore_result=True,
        )

    lazy.forward = forward
    app.sockethub = lazy  # type: ignore[attr-defined]
    watchdog = Watchdog(settings.task_time_limit_grace)
    for platform in registry:
        _register(app, lazy, platform, watchdog)

    @app.task(name=UPLOAD_TASK, ignore_result=True, shared=False)
    def upload(payload: dict[str, Any]) -> None:
        """A file the gateway received, sent on to its upload slot (tasks/uploads.py)."""
        runner = lazy.get()
        send_upload(runner.redis, runner.atrest, runner.settings, payload)

    return app


def _register(app: Celery, lazy: _Lazy, platform: Platform, watchdog: Watchdog) -> None:
    if platform.persistent:  # the loop does the work; the task waits with its own timeout

        @app.task(name=platform.task_name, ignore_result=True, shared=False)
        def run(payload: dict[str, Any] | list[dict[str, Any]]) -> None:
            for one in payload if isinstance(payload, list) else [payload]:
                lazy.get().run(platform.name, one)

        return
    # Time limits (tasks/limits.py): ours on every pool; Celery's hard one kills a prefork
    # child at the same moment (the threads pool ignores it).
    soft = soft_limit(platform, lazy.settings)
    hard = soft + lazy.settings.task_time_limit_grace

    @app.task(name=platform.task_name, ignore_result=True, shared=False, time_limit=hard)
    def run_fetch(payload: dict[str, Any] | list[dict[str, Any]]) -> None:
        if isinstance(payload, list):  # a gateway's batch (gateway/enqueue.py)
            run_limited_many(lazy.get(), watchdog, platform, payload, soft)
        else:
            run_limited(lazy.get(), watchdog, platform, payload, soft)


def _default() -> Celery:
    # A bad setting must not fail the import (Celery would print a traceback about loading
    # the app): the worker refuses at ``celeryd_init`` instead, in one line.
    try:
        settings = Settings.from_env()
        registry = startup.enabled_registry(settings)
    except ConfigError:
        settings, registry = Settings(), default_registry()
    return make_celery(settings, registry)


app = _default()


@signals.celeryd_init.connect
def _refuse_misconfigured(**_: Any) -> None:
    # Before the banner and before consuming: a worker without its secret would otherwise
    # take every task and fail each with no reply.
    try:
        startup.check_config(Settings.from_env())
    except ConfigError as exc:
        startup.refuse("sockethub worker", exc)


@signals.celeryd_after_setup.connect
def _direct_queue(sender: str, instance: Any, **_: Any) -> None:
    # This node's own queue: later verbs for connections it holds are routed here.
    queue = f"{sender}.dq"
    queues = instance.app.amqp.queues
    lazy = app.sockethub  # type: ignore[attr-defined]
    # The platforms this node serves are the queues it consumes (``-Q``), not all enabled.
    lazy.consumed = set(queues.consume_from or queues)
    queues.select_add(queue, routing_key=queue)
    lazy.node_queue = queue


@signals.worker_ready.connect
def _ready(sender: Any = None, **_: Any) -> None:
    lazy = app.sockethub  # type: ignore[attr-defined]
    # Fail at start-up, naming what is missing; start connection managers for our queues.
    lazy.get().start_persistent(lazy.consumed)
    served = [p.name for p in lazy.registry if lazy.consumed is None or p.queue in lazy.consumed]
    log.info("worker ready for platforms: %s", ", ".join(served))


@signals.after_setup_logger.connect
def _log_format(logger: Any = None, **_: Any) -> None:
    # Celery set up the root logger's handlers; JSON lines, if asked, replace its format.
    try:
        logjson.configure(Settings.from_env().log_format, logger)
    except ConfigError:
        pass  # refused at celeryd_init, in one line


@signals.worker_shutdown.connect
def _shutdown(sender: Any = None, **_: Any) -> None:
    app.sockethub.close()  # type: ignore[attr-defined]
