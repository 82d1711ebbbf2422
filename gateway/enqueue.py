"""Handing a validated request to the worker pool of its platform.

The gateway writes the Celery task message itself, onto the queue's Redis list, in the
same script that accepts the request (``envelopes.markers``): one round trip, and a request
is either accepted and queued or neither. The message is Celery's task protocol 2 (headers,
``[args, kwargs, embed]`` body) in the envelope kombu's Redis transport keeps on its lists
(body base64, ``properties.delivery_tag``), so a plain Celery worker consumes it. Celery's
own ``send_task`` cost half of the gateway's CPU per request (bench/profile.md): a
``saferepr`` of the arguments, a redis-py client object per publish, an ISO 8601
``expires`` the worker parses again. None of that is needed here: the worker's runner
drops a task past its ``deadline`` itself, and the web process imports no Celery at all.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from envelopes.markers import Markers
from envelopes.registry import Platform

__all__ = ["Enqueuer", "Acceptance", "RedisEnqueuer", "task_message", "MAX_BATCH"]

MAX_BATCH = 256  # SOCKETHUB_ENQUEUE_BATCH's cap: one script's keys stay few
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"gateway{os.getpid()}@{socket.gethostname()}"


def task_message(task: str, payload: dict[str, Any] | list[Any], queue: str) -> bytes:
    """One task, ``task(payload)``, as kombu's Redis transport stores it on ``queue``
    (``payload`` a list: a batch, ``tasks.app`` runs each)."""
    task_id = str(uuid.uuid4())
    body = orjson.dumps([[payload], {}, _EMBED])
    headers: dict[str, Any] = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,  # the runner drops a task past its payload's deadline
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        # The worker logs this instead of the arguments: short, and nothing of the request.
        "argsrepr": "(payload,)",
        "kwargsrepr": "{}",
        "origin": _ORIGIN,
        "ignore_result": True,
        "replaced_task_nesting": 0,
        "stamped_headers": None,
        "stamps": {},
    }
    return orjson.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": headers,
            "properties": {
                "correlation_id": task_id,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": task_id,
            },
        }
    )


@dataclass(frozen=True)
class Acceptance:
    """What the request's marker gets (``Markers.accept``); ``accepted`` when it was
    written already (a persistent platform's verb: its queue is looked up in between)."""

    sid: str
    rid: str
    marker: bytes
    ttl: int
    deadline: float
    lost_at: float  # when an ``a`` left by a crash may be answered ``not-sent``
    now: float
    accepted: bool = False


class Enqueuer(Protocol):
    def send(
        self, platform: Platform, payload: dict[str, Any], queue: str, acceptance: Acceptance
    ) -> int:
        """Queue the task unless its id is taken: 0 if taken (or answered meanwhile),
        else ``Markers.accept``'s answer."""
        ...

    def close(self) -> None: ...


class _Waiting:
    """One request in a lane: its result once a publish took it, or the lead."""

    __slots__ = ("acceptance", "payload", "result", "error", "finished", "woken")

    def __init__(self, acceptance: Acceptance, payload: dict[str, Any]):
        self.acceptance = acceptance
        self.payload = payload
        self.result = 0
        self.error: BaseException | None = None
        self.finished = False
        self.woken = threading.Event()


class RedisEnqueuer:
    """``batch``: requests of one ``batchable`` platform (its verbs wait on no network)
    that arrive while a publish to its queue is in flight wait for it to return, then go
    together, up to ``batch`` in one message (one script, one Celery task: both fixed
    costs paid once, bench/profile.md). The first of them leads: a request arriving when
    nothing is in flight is published at once, so a lone request never waits for company;
    under load each publish takes what came during the one before. Other platforms' verbs
    go one per message: a fetch must not wait behind another in one task, and a
    persistent platform's verb has its own queue and order number."""

    def __init__(self, markers: Markers, batch: int = 1):
        self.markers = markers
        self.batch = max(1, min(batch, MAX_BATCH))
        self._lanes: dict[str, list[_Waiting]] = {}
        self._lock = threading.Lock()

    def send(
        self, platform: Platform, payload: dict[str, Any], queue: str, acceptance: Acceptance
    ) -> int:
        a = acceptance
        if a.accepted:
            message = task_message(platform.task_name, payload, queue)
            return int(self.markers.send(a.sid, a.rid, a.marker, queue, message))
        if not platform.batchable or platform.persistent or self.batch == 1:
            return self._publish(platform.task_name, queue, [_Waiting(a, payload)])[0]
        me = _Waiting(a, payload)
        with self._lock:
            lane = self._lanes.get(queue)
            lead = lane is None
            if lead:
                self._lanes[queue] = lane = []
            lane.append(me)  # type: ignore[union-attr]
        if not lead:
            me.woken.wait()  # a publish took it, or handed it the lead
        if not me.finished:
            self._lead(platform.task_name, queue)
        if me.error is not None:
            raise me.error
        return me.result

    def _lead(self, task: str, queue: str) -> None:
        """Publish what waits in the lane (this caller's request first), then hand the
        lead to the first of what came meanwhile, or close the lane."""
        with self._lock:
            lane = self._lanes[queue]
            taken, lane[:] = lane[: self.batch], lane[self.batch :]
        try:
            self._publish(task, queue, taken)
        finally:
            with self._lock:
                if lane:
                    nxt: _Waiting | None = lane[0]
                else:
                    nxt = None
                    del self._lanes[queue]
            for w in taken:
                w.finished = True
                w.woken.set()
            if nxt is not None:
                nxt.woken.set()

    def _publish(self, task: str, queue: str, taken: list[_Waiting]) -> list[int]:
        try:
            payloads = [w.payload for w in taken]
            message = task_message(task, payloads[0] if len(taken) == 1 else payloads, queue)
            requests = [
                (
                    w.acceptance.sid,
                    w.acceptance.rid,
                    w.acceptance.marker,
                    w.acceptance.ttl,
                    w.acceptance.deadline,
                )
                for w in taken
            ]
            results = self.markers.accept_sent(requests, time.time(), queue, message)
        except BaseException as exc:
            for w in taken:
                w.error = exc
            raise
        for w, result in zip(taken, results, strict=True):
            w.result = result
        return results

    def close(self) -> None:
        pass  # the hub's Redis client is the hub's to close
