"""The dummy connector: echo, greet, fail and throw, with no upstream.

``fail`` answers as a platform that refuses does (code ``refused``, the platform's own
condition ``failed`` in ``details``); ``throw`` raises what a bug would, which the worker
answers with ``internal`` and a reference to its log, never the exception's text.
"""

from __future__ import annotations

from typing import Any

from envelopes.errors import Refused, condition_detail

from ..base import Connector, Job

__all__ = ["DummyConnector", "GREETING"]

GREETING = "Hello"
_PLATFORM_ACTOR = {"id": "dummy", "type": "platform"}


def _swap(activity: dict[str, Any]) -> dict[str, Any]:
    out = dict(activity)
    out["target"] = activity["actor"]
    out["actor"] = dict(_PLATFORM_ACTOR)
    return out


class DummyConnector(Connector):
    def echo(self, job: Job) -> dict[str, Any]:
        return _swap(job.activity)

    def greet(self, job: Job) -> dict[str, Any]:
        out = _swap(job.activity)
        obj = dict(job.activity.get("object") or {"type": "message", "content": ""})
        obj["content"] = f"{GREETING} {obj.get('content', '')}".rstrip()
        out["object"] = obj
        return out

    def fail(self, job: Job) -> None:
        content = (job.activity.get("object") or {}).get("content") or "failed"
        raise Refused(content, details=[condition_detail("dummy", "failed")])

    def throw(self, job: Job) -> None:
        content = (job.activity.get("object") or {}).get("content") or "thrown"
        raise RuntimeError(content)
