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
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from envelopes.markers import Markers
from envelopes.registry import Platform

__all__ = ["Enqueuer", "Acceptance", "RedisEnqueuer", "task_message"]

_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"gateway{os.getpid()}@{socket.gethostname()}"


def task_message(task: str, payload: dict[str, Any], queue: str) -> bytes:
    """One task, ``task(payload)``, as kombu's Redis transport stores it on ``queue``."""
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


class RedisEnqueuer:
    def __init__(self, markers: Markers):
        self.markers = markers

    def send(
        self, platform: Platform, payload: dict[str, Any], queue: str, acceptance: Acceptance
    ) -> int:
        a = acceptance
        message = task_message(platform.task_name, payload, queue)
        if a.accepted:
            return int(self.markers.send(a.sid, a.rid, a.marker, queue, message))
        return self.markers.accept_sent(
            a.sid, a.rid, a.marker, a.ttl, a.deadline, a.now, queue, message
        )

    def close(self) -> None:
        pass  # the hub's Redis client is the hub's to close
