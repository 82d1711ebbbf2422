"""The dummy connector: echo, greet, fail and throw, with no upstream."""

from __future__ import annotations

from typing import Any

from envelopes.errors import ConnectorError

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
        raise ConnectorError(content, code="failed")

    def throw(self, job: Job) -> None:
        content = (job.activity.get("object") or {}).get("content") or "thrown"
        raise RuntimeError(content)
