"""Reading one incoming frame: size, JSON, kind; refusals as ``envelopes.errors``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from envelopes.errors import FrameTooLarge, InvalidFrame

__all__ = ["Inbound", "parse_frame", "request_id_of", "MAX_REQUEST_ID"]

MAX_REQUEST_ID = 128
KINDS = ("hello", "request", "ping")


@dataclass(frozen=True)
class Inbound:
    kind: str
    id: str | None = None
    activity: Any = None
    resume: Any = None


def _request_id(value: Any) -> str:
    if value is None:
        raise InvalidFrame("request frame must have an id (a string of 1-128 characters)")
    if not isinstance(value, str) or not 0 < len(value) <= MAX_REQUEST_ID:
        raise InvalidFrame("request id must be a string of 1-128 characters", path="id")
    return value


def parse_frame(raw: str | bytes, max_bytes: int) -> Inbound:
    """Parse a text frame. Errors carry the request id when one could be read."""
    if isinstance(raw, bytes):
        raise InvalidFrame("binary frames are not accepted; send JSON text frames")
    size = len(raw.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise FrameTooLarge(f"frame of {size} bytes is over the limit of {max_bytes} bytes")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise InvalidFrame("frame is nested too deeply") from None
    except ValueError as exc:
        raise InvalidFrame(f"frame is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidFrame(f"frame must be a JSON object, not {type(data).__name__}")
    kind = data.get("kind")
    if kind is None and "@context" in data:
        # A bare Sockethub envelope: its own id correlates the reply.
        return Inbound("request", _request_id(data.get("id")), activity=data)
    if kind not in KINDS:
        raise InvalidFrame(f"unknown frame kind {str(kind)[:32]!r}; expected one of {KINDS}")
    if kind == "request":
        rid = _request_id(data.get("id"))
        if "activity" not in data:
            raise InvalidFrame("request frame must have an activity", path="activity")
        return Inbound("request", rid, activity=data["activity"])
    if kind == "hello":
        return Inbound("hello", resume=data.get("resume"))
    return Inbound("ping")


def request_id_of(raw: str | bytes) -> str | None:
    """Best effort: the id of a frame that failed to parse, so the reply can name it."""
    if isinstance(raw, bytes) or len(raw) > 1 << 20:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        return data["id"][:MAX_REQUEST_ID]
    return None
