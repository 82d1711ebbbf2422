"""Running one registered Lua script many times in one round trip.

redis-py's pipeline, given a ``Script`` object, first asks Redis whether it knows the
script (``SCRIPT EXISTS``): one more round trip every time. ``run_many`` queues bare
``EVALSHA``s instead, and when Redis has lost its scripts (a restart, a flush: then
every ``EVALSHA`` of the batch failed and none ran) loads the script and runs the batch
again, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["run_many", "no_script"]


def no_script(exc: BaseException) -> bool:
    """redis-py's NoScriptError, named rather than imported (envelopes imports no client)."""
    return any(c.__name__ == "NoScriptError" for c in type(exc).__mro__)


def run_many(
    redis: Any, script: Any, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]]
) -> list[Any]:
    """``script`` (a ``register_script`` result) for each ``(keys, args)``, in order, in one
    pipeline (not a transaction: each run is atomic on its own). Each run's answer."""
    for attempt in (1, 2):
        pipe = redis.pipeline(transaction=False)
        for k, a in calls:
            pipe.evalsha(script.sha, len(k), *k, *a)
        try:
            return list(pipe.execute())
        except Exception as exc:
            if attempt == 2 or not no_script(exc):
                raise
            script.sha = redis.script_load(script.script)
    raise AssertionError("unreachable")
