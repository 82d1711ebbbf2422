"""Read markers as verbs: a ``receipt`` with ``status: read``, and what ``connect`` says.

A read marker is the worker's own business on every persistent platform: it is stored
per (connection, conversation) (``tasks/marks.py``), the reply's result goes to the other
sessions on the connection as an event (``Runner._to_peers``: every tab updates at once,
the same activity shape, actor our own person), and the connector's ``mark_read`` hook
may mirror it upstream. The ``connect`` reply's object carries ``conversations``: per
conversation with something to say, ``{unread, read?}`` (a page that reloads learns its
counts there).
"""

from __future__ import annotations

from typing import Any

from connectors.base import Job
from connectors.persistent import PersistentConnector
from envelopes.errors import NotConnected

from .manager import Manager

__all__ = ["is_read_marker", "mark_read", "with_conversations"]


def is_read_marker(verb: str, activity: dict[str, Any]) -> bool:
    obj = activity.get("object")
    return verb == "receipt" and isinstance(obj, dict) and obj.get("status") == "read"


def mark_read(manager: Manager, connector: PersistentConnector, job: Job) -> dict[str, Any]:
    """Store the marker, let the connector mirror it; the result activity."""
    if not job.connection or not manager.records.exists(job.connection):
        raise NotConnected(
            f"not connected to {manager.platform.name} as {job.activity['actor']['id']}; "
            "send connect first (read markers belong to a connection)"
        )
    conversation = str(job.activity["target"]["id"])
    message_id = str(job.activity["object"]["id"])
    mark = manager.attention.marks.read(job.connection, conversation, message_id)
    if mark.moved:
        connector.mark_read(job, conversation, message_id)
    obj = {"type": "receipt", "id": mark.id, "status": "read"}
    return {**job.activity, "object": obj}


def with_conversations(manager: Manager, job: Job, result: dict[str, Any]) -> dict[str, Any]:
    """The connect result, its object carrying the connection's unread counts."""
    obj = result.get("object")
    if not isinstance(obj, dict) or not job.connection:
        return result
    summary = manager.attention.marks.summary(job.connection)
    return {**result, "object": {**obj, "conversations": summary}}
