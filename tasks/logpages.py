"""The pure parts of the own log (``tasks/ownlog.py``): which conversation a message
belongs to, its words for the blind index, the window of a history page, and the merge of
our log with a server's history. No Redis, no clock except ``stamp``'s.

A conversation is an IRC channel or private query, an XMPP chat or room: a room message's
conversation is the room; a private message's is the other person (its sender when it
came to us, its recipient when we sent it). Ids are compared case-folded.

Merging (issue 11): a server's history (MAM, chathistory) and our log hold many of the
same messages. Two items are the same message when they have the same ``object.id``, or,
since a server may give no id (or another one than the one we saw live), the same
``published`` second, actor id and content. Our log's copy is kept (its id is the one the
browser saw live); the result is in time order, oldest first, cut to the page's window.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from envelopes.platforms.chatlog import DEFAULT_LIMIT, MAX_LIMIT

__all__ = [
    "MAX_LIMIT",
    "DEFAULT_LIMIT",
    "MAX_WORDS",
    "conversation_of",
    "words",
    "stamp",
    "window",
    "merge",
    "epoch",
]

MAX_WORDS = 64  # distinct words of one message in the search index (the first ones)
_WORD = re.compile(r"\w+")


def conversation_of(activity: dict[str, Any], own: bool) -> str | None:
    """The conversation of a ``send`` activity, or None if it is not a message of one.
    ``own``: we sent it (our reply, or a copy of what another resource of ours sent)."""
    if activity.get("type") != "send":
        return None
    target = activity.get("target") or {}
    actor = activity.get("actor") or {}
    obj = activity.get("object") or {}
    if not isinstance(obj, dict) or not isinstance(obj.get("content"), str):
        return None
    if target.get("type") == "room":
        who = target.get("id")
    elif own or obj.get("xmpp:carbon") == "sent":
        who = target.get("id")
    else:
        who = actor.get("id")
    return str(who).lower() if who else None


def words(text: str) -> list[str]:
    """The distinct words of ``text``, case-folded, in order, at most ``MAX_WORDS``."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(text.casefold()):
        seen.setdefault(word, None)
        if len(seen) >= MAX_WORDS:
            break
    return list(seen)


def stamp(activity: dict[str, Any]) -> dict[str, Any]:
    """A ``send`` with an ``object.id`` (ours, ``sh-…``, when the network gave none) and a
    ``published`` time (now, when the network gave none): every message has both, the
    same live, in its reply and in history. Returns a copy when it adds anything."""
    obj = activity.get("object")
    if activity.get("type") != "send" or not isinstance(obj, dict):
        return activity
    if obj.get("id") and activity.get("published"):
        return activity
    out = dict(activity)
    if not obj.get("id"):
        out["object"] = {**obj, "id": "sh-" + secrets.token_urlsafe(12)}
    if not activity.get("published"):
        now = datetime.now(UTC)
        out["published"] = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
    return out


def epoch(published: Any) -> float:
    """``published`` as epoch seconds; 0 when it is missing or not a time."""
    if not isinstance(published, str) or not published:
        return 0.0
    try:
        when = datetime.fromisoformat(published.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def window(first: int, last: int, anchor: int | None, kind: str, limit: int) -> tuple[int, int]:
    """The seqs ``lo..hi`` (inclusive; empty when lo > hi) of a page of the log holding
    ``first..last``: the newest ``limit`` (no cursor), those before or after ``anchor``,
    or ``limit`` around it (the anchor included, as many before as after)."""
    if kind == "before" and anchor is not None:
        return max(first, anchor - limit), anchor - 1
    if kind == "after" and anchor is not None:
        return anchor + 1, min(last, anchor + limit)
    if kind == "around" and anchor is not None:
        lo = max(first, anchor - (limit - 1) // 2)
        hi = min(last, lo + limit - 1)
        return max(first, hi - limit + 1), hi
    return max(first, last - limit + 1), last


def _same_keys(item: dict[str, Any]) -> list[Any]:
    obj = item.get("object") or {}
    out: list[Any] = []
    if obj.get("id"):
        out.append(("id", str(obj["id"])))
    out.append(
        (
            "when",
            int(epoch(item.get("published"))),
            str((item.get("actor") or {}).get("id", "")).lower(),
            obj.get("content"),
        )
    )
    return out


def merge(
    own: Iterable[dict[str, Any]],
    server: Iterable[dict[str, Any]],
    kind: str,
    anchor: str | None,
    limit: int,
) -> tuple[list[dict[str, Any]], bool, bool]:
    """Our page and the server's for the same cursor, as one page of at most ``limit``:
    without duplicates, oldest first. Returns the items and whether items were cut off
    before and after them (the caller adds what each source said it has beyond)."""
    seen: set[Any] = set()
    merged: list[dict[str, Any]] = []
    for item in [*own, *server]:
        marks = _same_keys(item)
        if any(m in seen for m in marks):
            continue
        seen.update(marks)
        merged.append(item)
    # A stable sort: items of the same time keep our log's order, then the server's.
    merged.sort(key=lambda i: epoch(i.get("published")))
    ids = [str((i.get("object") or {}).get("id", "")) for i in merged]
    if kind == "after" and anchor is not None:
        start = ids.index(anchor) + 1 if anchor in ids else 0
        page = merged[start : start + limit]
        return page, start > 0, start + limit < len(merged)
    if kind == "around" and anchor is not None and anchor in ids:
        at = ids.index(anchor)
        lo = max(0, at - (limit - 1) // 2)
        hi = min(len(merged), lo + limit)
        lo = max(0, hi - limit)
        return merged[lo:hi], lo > 0, hi < len(merged)
    end = ids.index(anchor) if kind == "before" and anchor in ids else len(merged)
    lo = max(0, end - limit)
    return merged[lo:end], lo > 0, end < len(merged)
