"""Test-only faults: a gateway that dies at the moment it hands a request to Celery; a
worker that takes verbs off Redis and never runs them.

Put this folder first on ``PYTHONPATH`` of one gateway and set ``SOCKETHUB_CRASH_AT_PUBLISH``
to ``before`` (killed after accepting the request, instead of publishing it: it never
left) or ``after`` (killed right after the publish). The gateway process and its
gunicorn master get SIGKILL, as a machine losing power would: no handler runs. Everything
else in that gateway is the real code; the patch is installed when ``gateway.enqueue`` is
first imported (not before: nothing may import ssl before gevent patches it).

A worker given ``SOCKETHUB_STALL_FILE`` stalls, once that file exists, every task of verb
``SOCKETHUB_STALL_VERB`` (``send`` by default) as it enters the runner: the task has left
Redis (Celery reserved it) and holds its thread for ever, and the tasks Celery prefetches
behind it wait in the pool. SIGKILL it then, and those verbs die with it, as a worker's
reserved tasks do.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import signal
import sys
from typing import Any

_WHEN = os.environ.get("SOCKETHUB_CRASH_AT_PUBLISH", "")
_STALL = os.environ.get("SOCKETHUB_STALL_FILE", "")
_STALL_VERB = os.environ.get("SOCKETHUB_STALL_VERB", "send")


def _die() -> None:
    os.kill(os.getppid(), signal.SIGKILL)  # the gunicorn master: no new worker takes over
    os.kill(os.getpid(), signal.SIGKILL)


def _patch(module: Any) -> None:
    original = module.RedisEnqueuer.send

    def send(self: Any, platform: Any, payload: Any, queue: str, a: Any) -> int:
        if _WHEN == "after":
            original(self, platform, payload, queue, a)
        elif not a.accepted:
            # Accepted, not published: the state a crash between the two leaves (a
            # persistent verb's window, or a pipeline cut in the middle).
            self.markers.accept(a.sid, a.rid, a.marker, a.ttl, a.deadline, a.lost_at, a.now)
        _die()
        return 0

    module.RedisEnqueuer.send = send


def _stall(module: Any) -> None:
    import threading

    original = module.Runner.run

    def run(self: Any, platform_name: str, payload: dict[str, Any]) -> None:
        if payload.get("verb") == _STALL_VERB and os.path.exists(_STALL):
            threading.Event().wait()  # taken off Redis, never run
        original(self, platform_name, payload)

    module.Runner.run = run


class _Hook(importlib.abc.MetaPathFinder):
    def __init__(self, module: str, patch: Any):
        self.module = module
        self.patch = patch

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != self.module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        run, patch = loader.exec_module, self.patch

        def exec_module(module: Any) -> None:
            run(module)
            patch(module)

        loader.exec_module = exec_module
        return spec


if _WHEN in ("before", "after"):
    sys.meta_path.insert(0, _Hook("gateway.enqueue", _patch))
if _STALL:
    sys.meta_path.insert(0, _Hook("tasks.runner", _stall))
