"""The AS2 shapes every persistent platform's events are built from.

One key order for all (``@context``, ``type``, ``actor``, ``target``, ``object``,
``published``, ``error``) and one form of an error event, so IRC's and XMPP's events
differ only in what their protocols say, never in how they are put together.
"""

from __future__ import annotations

from typing import Any

from envelopes.context import context_for
from envelopes.errors import SockethubError

__all__ = ["Activity", "activity", "error_activity"]

Activity = dict[str, Any]


def activity(
    platform: str,
    verb: str,
    actor: dict[str, Any],
    target: dict[str, Any] | None = None,
    obj: dict[str, Any] | None = None,
    published: str | None = None,
) -> Activity:
    """An event of ``platform``: ``target``, ``object`` and ``published`` only when given."""
    out: Activity = {"@context": context_for(platform), "type": verb, "actor": actor}
    if target is not None:
        out["target"] = target
    if obj is not None:
        out["object"] = obj
    if published:
        out["published"] = published
    return out


def error_activity(
    platform: str,
    actor: dict[str, Any],
    target: dict[str, Any],
    exc: SockethubError,
    condition: str,
    content: str,
    **extra: Any,
) -> Activity:
    """An ``error`` event for a protocol error no request was waiting for. ``exc`` is the
    error a failed reply would carry (its code and retryability); ``condition`` the
    protocol's own name for it; ``extra`` what the protocol adds (a numeric, a stanza)."""
    obj: dict[str, Any] = {
        "type": "error",
        "code": exc.code,
        "condition": condition,
        "retryable": exc.retryable,
        **extra,
        "content": content,
    }
    out = activity(platform, "error", actor, target, obj)
    out["error"] = content
    return out
