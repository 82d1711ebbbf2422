"""Sockethub's HTTP actions, the pure part: request ids, body shapes and answer lines.

No Flask, no Redis: ``gateway.httpactions`` reads the request and hands the pieces here.
The shapes are Sockethub's (its ``http/actions.ts``; docs/http-actions.md):

- a body is one activity, an array of activities, or ``{"requestId", "messages": [...]}``;
- an item with ``type`` and ``actor`` keys is a credentials payload when its ``type`` is
  ``"credentials"``, else a message; anything else is answered ``unsupported payload
  type``;
- the request id comes from ``X-Request-Id``, else ``X-Sockethub-Request-Id``, else the
  body's ``requestId``: trimmed, at most 128 of ``A-Z a-z 0-9 . _ : -``;
- a credentials payload is answered with a ``credentials-ack`` that names the actor and
  never carries the credentials (the answer is kept for replay, which needs none);
- an error of the call itself (a timeout, an item it cannot read) is a line of
  Sockethub's error shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from envelopes.context import AS2_CONTEXT, PLATFORM_CONTEXT_PREFIX, SOCKETHUB_CONTEXT

__all__ = [
    "BodyError",
    "Item",
    "CREDENTIALS",
    "MESSAGE",
    "UNSUPPORTED",
    "request_id",
    "items_of",
    "credentials_ack",
    "error_line",
    "MAX_REQUEST_ID",
]

MAX_REQUEST_ID = 128
_RID = re.compile(r"[A-Za-z0-9._:-]+")
_INTERNAL_CONTEXT = [
    AS2_CONTEXT,
    SOCKETHUB_CONTEXT,
    f"{PLATFORM_CONTEXT_PREFIX}sockethub:internal/v1.jsonld",
]
_ERROR_CONTEXT = [AS2_CONTEXT, SOCKETHUB_CONTEXT, f"{PLATFORM_CONTEXT_PREFIX}error/v1.jsonld"]
NOT_PAYLOAD = "request body must be a payload object or array of payloads"

CREDENTIALS, MESSAGE, UNSUPPORTED = "credentials", "message", "unsupported"

Json = dict[str, Any]


class BodyError(Exception):
    """The call is refused as a whole: ``status`` and Sockethub's ``{"error": ...}``."""

    def __init__(self, status: int, message: str, request_id: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.request_id = request_id

    def body(self) -> Json:
        out: Json = {"error": self.message}
        if self.request_id is not None:
            out["requestId"] = self.request_id
        return out


@dataclass(frozen=True)
class Item:
    """One element of the body, where it was, and what it is."""

    index: int
    kind: str  # CREDENTIALS, MESSAGE or UNSUPPORTED
    value: Any


def _clean_id(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise BodyError(400, "requestId contains invalid characters")
    rid = raw.strip()
    if not rid:
        return None
    if len(rid) > MAX_REQUEST_ID:
        raise BodyError(400, f"requestId must be at most {MAX_REQUEST_ID} characters")
    if not _RID.fullmatch(rid):
        raise BodyError(400, "requestId contains invalid characters")
    return rid


def request_id(headers: Any, body: Any = None, path_id: Any = None) -> str | None:
    """The call's request id (None if it has none), in Sockethub's order of places:
    the URL (GET only), ``X-Request-Id``, ``X-Sockethub-Request-Id``, the body."""
    candidates = [path_id, headers.get("X-Request-Id"), headers.get("X-Sockethub-Request-Id")]
    if isinstance(body, dict):
        candidates.append(body.get("requestId"))
    for raw in candidates:
        rid = _clean_id(raw)
        if rid is not None:
            return rid
    return None


def _kind(value: Any) -> str:
    if isinstance(value, dict) and "type" in value and "actor" in value:
        return CREDENTIALS if value.get("type") == "credentials" else MESSAGE
    return UNSUPPORTED


def items_of(body: Any, max_messages: int) -> list[Item]:
    """The body's activities, in order; ``BodyError`` for a body that holds none, or too
    many."""
    if isinstance(body, dict) and isinstance(body.get("messages"), list):
        values = list(body["messages"])
    elif isinstance(body, list):
        values = list(body)
    elif isinstance(body, dict):
        values = [body]
    else:
        raise BodyError(400, NOT_PAYLOAD)
    if not values:
        raise BodyError(400, NOT_PAYLOAD)
    if len(values) > max_messages:
        raise BodyError(413, f"payload limit exceeded (max {max_messages})")
    return [Item(i, _kind(v), v) for i, v in enumerate(values)]


def _actor_id(activity: Any) -> str | None:
    actor = activity.get("actor") if isinstance(activity, dict) else None
    if isinstance(actor, str):
        return actor  # Sockethub's shorthand: a string actor is its id
    if isinstance(actor, dict) and isinstance(actor.get("id"), str):
        return str(actor["id"])
    return None


def credentials_ack(activity: Any, error: str | None, rid: str | None) -> Json:
    """The line for a credentials payload: who, and whether it was stored; never what."""
    actor = _actor_id(activity)
    if actor is None:
        # Sockethub: a failing credentials payload without a string actor id becomes an
        # error line with just the message.
        return error_line(error or "credential activity streams must have an actor", rid)
    line: Json = {
        "@context": list(_INTERNAL_CONTEXT),
        "type": "credentials-ack",
        "actor": {"id": actor, "type": "person"},
    }
    if error is not None:
        line["error"] = error
    return line


def error_line(message: str, rid: str | None) -> Json:
    line: Json = {
        "type": "error",
        "@context": list(_ERROR_CONTEXT),
        "actor": {"type": "Application", "name": "sockethub-server"},
        "error": message,
    }
    if rid is not None:
        line["requestId"] = rid
    return line
