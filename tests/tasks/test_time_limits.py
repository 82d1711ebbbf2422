"""Fetch tasks get soft and hard time limits, on the threads pool our workers run.

The Celery task itself (``make_celery``'s registration) is called in a thread of the test,
with a real Redis, against a platform whose verb ignores every deadline: one spins in
Python, one sits in a single blocking C call. Neither may hold its thread past the soft
limit unanswered; each request gets exactly one failed ``upstream-timeout`` reply.
"""

from __future__ import annotations

import json
import sys
import threading
import time
import types
from typing import Any

from connectors.base import Connector
from envelopes import keys, sealing
from envelopes.atrest import AtRest
from envelopes.registry import Platform, Registry, Verb
from envelopes.schema import MessageObjectSchema
from envelopes.settings import Settings
from gateway.sessions import SessionStore
from tasks.app import make_celery

SECRET = "x" * 32


class Stubborn(Connector):
    def spin(self, job: Any) -> dict[str, Any]:
        until = time.time() + 10
        while time.time() < until:  # Python code: the soft limit can stop it
            time.sleep(0.01)
        return {"type": "spin"}

    def block(self, job: Any) -> dict[str, Any]:
        time.sleep(4)  # one C call: nothing stops it before it returns
        return {"type": "block"}


def _platform() -> Platform:
    mod = types.ModuleType("stubbornmod")
    mod.Stubborn = Stubborn  # type: ignore[attr-defined]
    sys.modules["stubbornmod"] = mod
    verbs = {v: Verb(v, object=MessageObjectSchema) for v in ("spin", "block")}
    return Platform("stubborn", "stubbornmod:Stubborn", verbs)


def _frames(r: Any, sid: str) -> list[dict[str, Any]]:
    atrest = AtRest(r, sealing.server_key(SECRET))
    entries = r.xrange(keys.session_stream(sid))
    return [json.loads(atrest.open_frame(sid, f[b"f"]) or "") for _, f in entries if b"f" in f]


def _start(r: Any, redis_url: str, verb: str, within: float, grace: float):
    settings = Settings(redis_url=redis_url, secret=SECRET, task_time_limit_grace=grace)
    platform = _platform()
    app = make_celery(settings, Registry([platform]))
    sid = SessionStore(r, sealing.server_key(SECRET), 60).create("gw").sid
    r.set(keys.request(sid, "1"), "p{}")
    payload = {
        "session": sid,
        "request": "1",
        "verb": verb,
        "activity": {"type": verb, "actor": {"id": "me", "type": "person"}},
        "deadline": time.time() + within,
    }
    payload = AtRest(r, sealing.server_key(SECRET)).seal_task(payload)  # as the gateway sends it
    task = app.tasks[platform.task_name]
    done = threading.Event()
    thread = threading.Thread(target=lambda: (task(payload), done.set()), daemon=True)
    thread.start()
    return sid, done, app


def _wait_reply(r: Any, sid: str, limit: float) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    while time.monotonic() - started < limit:
        frames = _frames(r, sid)
        if frames:
            return frames[0], time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"no reply within {limit} s")


def test_a_task_spinning_past_its_deadline_is_stopped_with_a_failed_reply(
    redis_client: Any, redis_url: str
) -> None:
    sid, done, app = _start(redis_client, redis_url, "spin", within=2.0, grace=5.0)
    frame, elapsed = _wait_reply(redis_client, sid, 6)
    assert frame["status"] == "failed"
    assert frame["error"]["code"] == "upstream-timeout"
    assert "time limit" in frame["error"]["message"]
    assert elapsed < 2.0 + 1.5  # soft limit: just before the request's deadline
    assert done.wait(2), "the pool thread is free again"
    assert len(_frames(redis_client, sid)) == 1
    app.sockethub.close()


def test_a_task_stuck_in_one_blocking_call_is_answered_at_the_hard_limit(
    redis_client: Any, redis_url: str
) -> None:
    sid, done, app = _start(redis_client, redis_url, "block", within=1.0, grace=1.0)
    frame, elapsed = _wait_reply(redis_client, sid, 6)
    assert frame["status"] == "failed" and frame["error"]["code"] == "upstream-timeout"
    assert elapsed < 1.0 + 1.0 + 1.5 and not done.is_set()  # still inside its sleep
    assert done.wait(6)
    assert len(_frames(redis_client, sid)) == 1  # its late exception answered nothing
    app.sockethub.close()


def test_the_limits_thread_is_woken_only_when_the_earliest_limit_changes():
    # Every task is watched: waking the limits thread for each one (it then finds nothing
    # due and sleeps again) was a context switch per task for nothing.
    from tasks.limits import Watchdog

    class Counting(threading.Condition):
        wakes = 0

        def notify(self, n: int = 1) -> None:
            Counting.wakes += 1
            super().notify(n)

    wd = Watchdog(grace=1)
    wd._cond = Counting()
    now = time.time()
    with wd.watch(now + 60, "the outer task", lambda exc: None):
        for i in range(20):  # later limits, as tasks taken one after another have
            with wd.watch(now + 120 + i, "a task", lambda exc: None):
                pass
        with wd.watch(now + 30, "a task due sooner", lambda exc: None):
            pass
    assert Counting.wakes == 2
