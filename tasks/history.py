"""``query`` history and search: what a session may read of its connection's own log.

Only a session on the connection reads its log (every session on it shares it); the
gateway names the connection from the session's own credentials, so another session (even
one on the same server as another nick) reaches only its own connection's log, and a
conversation that log never had is refused, ``not-found``. Shapes: docs/protocol.md,
"History" and "Search".

A connection whose upstream has ``async def server_history(conversation, *, before,
after, around, limit)`` (MAM, chathistory: later work) has that history merged with the
log (``logpages.merge``): without gaps, without duplicates.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from connectors.base import Job
from envelopes.errors import InvalidEnvelope, NotConnected, NotFound, SockethubError

from .logpages import DEFAULT_LIMIT, merge
from .logsearch import search as search_log
from .ownlog import OwnLog

if TYPE_CHECKING:
    from .manager import Manager

__all__ = ["answer_query", "history", "search", "ServerHistory", "CURSORS"]

log = logging.getLogger("sockethub.history")
MARGIN = 1.0  # seconds kept of the request's time for our own answer

CURSORS = ("before", "after", "around")
# Runs the upstream's ``server_history`` on the loop with these arguments; None: it has none.
ServerHistory = Callable[[str, dict[str, Any]], list[dict[str, Any]] | None]


def answer_query(manager: Manager, job: Job) -> dict[str, Any]:
    """The ``query`` of ``object.type`` history or search, for a session on the connection."""
    key, name = job.connection, manager.platform.name
    if not key or job.session not in manager.records.members(key):
        raise NotConnected(
            f"not connected to {name} as {job.activity['actor']['id']}; history and search "
            "are for the sessions on a connection: send connect first"
        )
    if job.activity["object"]["type"] == "search":
        return search(manager.ownlog, key, job.activity, str(job.activity["actor"]["id"]))
    return history(manager.ownlog, key, job.activity, _server_history(manager, job))


def _server_history(manager: Manager, job: Job) -> ServerHistory | None:
    sup = manager.local(job.connection)
    fetch = getattr(sup.up if sup is not None else None, "server_history", None)
    if not callable(fetch):
        return None

    def run(conv: str, cursor: dict[str, Any]) -> list[dict[str, Any]] | None:
        try:
            found = manager.loop.call(
                fetch(conv, **cursor), job.remaining - MARGIN, f"{manager.platform.name} history"
            )
        except SockethubError as exc:  # our own log still answers
            log.warning("server history of %s failed: %s", job.connection[:8], exc.message)
            return None
        return None if found is None else list(found)

    return run


def _conversation(activity: dict[str, Any]) -> str:
    target = activity.get("target") or {}
    if not target.get("id"):
        raise InvalidEnvelope("a history query needs the conversation as target", path="target")
    return str(target["id"]).lower()


def _no_history(conv: str) -> NotFound:
    return NotFound(
        f"no history of {conv} on this connection: nothing was said there since it connected "
        "(history is kept per connection, for the sessions sharing it)",
        details=[{"condition": "no-history"}],
    )


def history(
    log: OwnLog, ckey: str, activity: dict[str, Any], server: ServerHistory | None
) -> dict[str, Any]:
    obj = activity["object"]
    conv = _conversation(activity)
    given = [c for c in CURSORS if obj.get(c)]
    if len(given) > 1:
        raise InvalidEnvelope("give one of before, after, around", path=f"object.{given[1]}")
    kind = given[0] if given else "latest"
    anchor = str(obj[kind]) if given else None
    limit = int(obj.get("limit") or DEFAULT_LIMIT)
    missing = False
    try:
        page = log.page(ckey, conv, kind, anchor, limit)
        items, before, after, found = page.items, page.before, page.after, page.found
    except KeyError:
        items, before, after, found, missing = [], False, False, True, True
    theirs = None
    if server is not None:
        cursor = {c: obj[c] for c in given} | {"limit": limit}
        theirs = server(str((activity.get("target") or {}).get("id")), cursor)
    if theirs is not None:
        merged, cut_before, cut_after = merge(items, theirs, kind, anchor, limit)
        full = len(theirs) >= limit
        items = merged
        before = before or cut_before or (full and kind != "after")
        after = after or cut_after or (full and kind == "after")
        found = found or bool(theirs)
        missing = missing and not merged
    if missing:
        raise NotFound(
            f"message {anchor} is not in the history of {conv} (older than what is kept?)",
            path=f"object.{kind}",
            details=[{"condition": "no-such-message"}],
        )
    if not found:
        raise _no_history(conv)
    ids = [str(i["object"].get("id")) for i in items]
    collection = {
        "type": "collection",
        "items": items,
        "first": ids[0] if ids else None,
        "last": ids[-1] if ids else None,
        "more": {"before": before, "after": after},
    }
    return {**activity, "object": collection}


def _cursor(raw: Any) -> tuple[int, str, int] | None:
    if not raw:
        return None
    try:
        ms, conv, seq = json.loads(base64.urlsafe_b64decode(str(raw) + "=" * (-len(raw) % 4)))
        return int(ms), str(conv), int(seq)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidEnvelope(
            "not a cursor this server gave (pass a search reply's next as it came)",
            path="object.cursor",
        ) from None


def _encode(at: tuple[int, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(at)).encode()).decode().rstrip("=")


def search(log: OwnLog, ckey: str, activity: dict[str, Any], own_id: str) -> dict[str, Any]:
    """In one conversation (the target), or in all when the target is absent or the
    connection's own person (``own_id``)."""
    obj = activity["object"]
    target = activity.get("target") or {}
    conv = str(target.get("id") or "").lower() or None
    if conv is not None and (target.get("type") != "room" and conv == own_id.lower()):
        conv = None
    if conv is not None and not log.has(ckey, conv):
        raise _no_history(conv)
    if not str(obj.get("content") or "").strip():
        raise InvalidEnvelope("a search needs words in content", path="object.content")
    limit = int(obj.get("limit") or DEFAULT_LIMIT)
    items, more = search_log(
        log, ckey, conv, str(obj["content"]), _cursor(obj.get("cursor")), limit
    )
    collection = {
        "type": "collection",
        "items": items,
        "next": _encode(more) if more is not None else None,
    }
    return {**activity, "object": collection}
