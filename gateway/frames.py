"""Reading one incoming frame: size, JSON, kind; refusals as ``envelopes.errors``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from envelopes.errors import FrameTooLarge, InvalidFrame, InvalidUnicode

__all__ = [
    "Inbound",
    "parse_frame",
    "request_id_of",
    "lone_surrogate_path",
    "MAX_REQUEST_ID",
    "HARD_FRAME_FACTOR",
]

MAX_REQUEST_ID = 128
KINDS = ("hello", "request", "ping", "end", "push")
# Frames up to this many times SOCKETHUB_MAX_FRAME_BYTES are read whole and answered with
# frame-too-large; the WebSocket library closes the socket (1009) on anything larger.
HARD_FRAME_FACTOR = 2

# WebSocket text is valid UTF-8, so a surrogate can only come from a JSON escape; a
# matched pair decodes to one code point, so any surrogate left after decoding is lone.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Inbound:
    kind: str
    id: str | None = None
    activity: Any = None
    resume: Any = None
    keep: Any = None  # hello: how long to keep the session while detached (gateway/kept.py)
    push: Any = None  # a ``push`` frame's fields (gateway/push.py)


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
    if _SURROGATE_ESCAPE.search(raw):
        path = lone_surrogate_path(data)
        if path is not None:
            raise InvalidUnicode(
                f"{path or 'frame'} holds a lone UTF-16 surrogate (such as \\ud800), which "
                "is not a character; send valid Unicode text",
                path=path,
            )
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
        return Inbound("hello", resume=data.get("resume"), keep=data.get("keep"))
    if kind == "push":
        return Inbound("push", _request_id(data.get("id")), push=data)
    return Inbound(kind)


def _safe(key: str) -> str:
    return key.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")


def lone_surrogate_path(value: Any, path: str = "") -> str | None:
    """The dotted path of the first string (value or key) holding a lone surrogate."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return where
        elif isinstance(item, dict):
            for key, sub in item.items():
                sub_path = f"{where}.{_safe(key)}" if where else _safe(key)
                if _SURROGATE.search(key):
                    return sub_path
                stack.append((sub, sub_path))
        elif isinstance(item, list):
            stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))
    return None


def request_id_of(raw: str | bytes) -> str | None:
    """Best effort: the id of a frame that failed to parse, so the reply can name it."""
    if isinstance(raw, bytes) or len(raw) > 1 << 20:
        return None
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    rid = data.get("id") if isinstance(data, dict) else None
    if isinstance(rid, str) and not _SURROGATE.search(rid):  # no reply could carry it
        return rid[:MAX_REQUEST_ID]
    return None
