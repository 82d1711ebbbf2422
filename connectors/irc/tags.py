"""IRCv3 client-only tags (https://ircv3.net/specs/extensions/message-tags): writing them,
and the three we use, ``+typing``, ``+draft/reply`` and ``+draft/react``/``+draft/unreact``.

Pure: no socket, no Redis. A tag value is escaped as the spec says (``;`` → ``\\:``, space
→ ``\\s``, ``\\`` → ``\\\\``, CR → ``\\r``, LF → ``\\n``); the tags of one message may take at
most 4094 bytes from a client (the spec's limit for client tag data, which servers enforce
by dropping the message or the tags), so a longer set is refused before anything is sent,
naming the field it came from. Tags do not count towards a line's 512 bytes.

    typing   state  composing → +typing=active, paused → paused, active|inactive|gone → done
    reply    send object.inReplyTo → +draft/reply=<msgid> on each line of the message
    react    +draft/reply=<msgid>;+draft/react=<emoji> (unreact when object.remove)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from envelopes.errors import InvalidEnvelope

__all__ = [
    "MAX_CLIENT_TAG_BYTES",
    "TYPING_FROM_IRC",
    "TYPING_INTERVAL",
    "TYPING_TO_IRC",
    "TypingThrottle",
    "escape_value",
    "signal",
    "with_tags",
]

MAX_CLIENT_TAG_BYTES = 4094  # message-tags, "Size limit": client tag data, '@' and ' ' excluded
TYPING_INTERVAL = 3.0  # +typing: "active" at most once every 3 seconds per conversation
_THROTTLE_KEEP = 256  # conversations remembered before old entries are dropped

# The shared typing shape's states (docs/protocol.md) ↔ the +typing values.
TYPING_TO_IRC = {
    "composing": "active",
    "paused": "paused",
    "active": "done",
    "inactive": "done",
    "gone": "done",
}
TYPING_FROM_IRC = {"active": "composing", "paused": "paused", "done": "active"}

_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


def escape_value(value: str) -> str:
    return value.translate(_ESCAPES)


def with_tags(tags: Mapping[str, str], line: str, field: str) -> str:
    """``line`` with ``tags`` in front (``@k=v;k2=v2 line``); refused, naming ``field``,
    when the tags are over the client limit."""
    if not tags:
        return line
    data = ";".join(f"{k}={escape_value(v)}" if v else k for k, v in tags.items())
    size = len(data.encode("utf-8"))
    if size > MAX_CLIENT_TAG_BYTES:
        raise InvalidEnvelope(
            f"{field} is too long for IRC message tags ({size} of {MAX_CLIENT_TAG_BYTES} "
            "bytes, the IRCv3 message-tags limit for a client); nothing was sent",
            path=field,
        )
    return f"@{data} {line}"


class TypingThrottle:
    """``+typing=active`` at most once every ``TYPING_INTERVAL`` seconds per conversation
    (the +typing spec asks this of clients); ``paused`` and ``done`` always go, and end the
    run, so typing again after them is sent at once. Asyncio-free and clock-injected."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last: dict[str, float] = {}

    def allow(self, target: str, state: str) -> bool:
        now = self._clock()
        if state != "active":
            self._last.pop(target, None)
            return True
        last = self._last.get(target)
        if last is not None and now - last < TYPING_INTERVAL:
            return False
        if len(self._last) >= _THROTTLE_KEEP:
            self._last = {k: t for k, t in self._last.items() if now - t < TYPING_INTERVAL}
        self._last[target] = now
        return True


def signal(tags: Mapping[str, str]) -> tuple[str, dict[str, Any]] | None:
    """An incoming TAGMSG's tags → (verb, object) of the shared shapes, or None."""
    reply = tags.get("+draft/reply")
    for key, remove in (("+draft/react", False), ("+draft/unreact", True)):
        if tags.get(key) and reply:
            obj: dict[str, Any] = {"type": "reaction", "inReplyTo": reply, "content": tags[key]}
            if remove:
                obj["remove"] = True
            return "react", obj
    state = TYPING_FROM_IRC.get(tags.get("+typing", ""))
    if state is not None:
        return "typing", {"type": "typing", "state": state}
    return None
