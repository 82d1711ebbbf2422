"""A page of history merged from our own log and a server's history (a fake source here):
no gaps, no duplicates (by id, else by second, actor and content), oldest first."""

from __future__ import annotations

from typing import Any

import pytest

from envelopes.errors import InvalidEnvelope, NotFound
from tasks.history import history, search
from tasks.logpages import conversation_of, merge, stamp, window

from .test_ownlog import ROOM, _ids, _log, _msg


def _query(**obj: Any) -> dict[str, Any]:
    return {
        "type": "query",
        "actor": {"type": "person", "id": "ann@irc.test"},
        "target": ROOM,
        "object": {"type": "history", **obj},
    }


class FakeServer:
    """Stands for MAM/chathistory: holds messages, answers a cursor like the hook does."""

    def __init__(self, items: list[dict[str, Any]]):
        self.items = items
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, conv: str, cursor: dict[str, Any]) -> list[dict[str, Any]] | None:
        self.calls.append((conv, cursor))
        return list(self.items[-cursor["limit"] :])


def _no_id(item: dict[str, Any], published: str | None = None) -> dict[str, Any]:
    out = {**item, "object": {k: v for k, v in item["object"].items() if k != "id"}}
    if published:
        out["published"] = published
    return out


def test_merge_drops_duplicates_by_id_and_by_time_actor_content() -> None:
    own = [_msg(n) for n in (3, 4, 5)]
    server = [
        _msg(1),
        _msg(2),
        _msg(3),  # same id
        _no_id(_msg(4), "2026-12-02T05:00:04.900Z"),  # no id: same second, actor, content
        {**_msg(5), "object": {**_msg(5)["object"], "id": "server-5"}},  # another id, same
        _msg(6),
    ]
    items, cut_before, cut_after = merge(own, server, "latest", None, 100)
    assert [i["object"].get("id") for i in items] == ["m1", "m2", "m3", "m4", "m5", "m6"]
    assert (cut_before, cut_after) == (False, False)
    page, cut_before, cut_after = merge(own, server, "before", "m5", 2)
    assert _ids(page) == ["m3", "m4"] and (cut_before, cut_after) == (True, True)
    page, _b, _a = merge(own, server, "after", "m2", 2)
    assert _ids(page) == ["m3", "m4"]
    page, _b, _a = merge(own, server, "around", "m4", 3)
    assert _ids(page) == ["m3", "m4", "m5"]


def test_a_server_source_fills_what_the_log_lacks(redis_client: Any) -> None:
    log, _ = _log(redis_client)
    log.record([("ck", _msg(n), False) for n in range(10, 20)])  # we came late
    server = FakeServer([_msg(n) for n in range(0, 15)])  # the server has the start
    page = history(log, "ck", _query(limit=100), server)["object"]
    assert _ids(page["items"]) == [f"m{n}" for n in range(20)]
    assert (page["first"], page["last"]) == ("m0", "m19")
    assert server.calls == [(ROOM["id"], {"limit": 100})]
    # a server that has none (None) leaves our log's page as it is
    only = history(log, "ck", _query(before="m12", limit=5), lambda c, q: None)["object"]
    assert _ids(only["items"]) == ["m10", "m11"] and only["more"] == {
        "before": False,
        "after": True,
    }


def test_refusals(redis_client: Any) -> None:
    log, _ = _log(redis_client)
    log.record([("ck", _msg(1), False)])
    with pytest.raises(NotFound) as no_conv:
        history(log, "ck", {**_query(), "target": {"type": "room", "id": "#x@irc.test"}}, None)
    assert no_conv.value.condition == "no-history"
    with pytest.raises(NotFound) as no_msg:
        history(log, "ck", _query(before="gone"), None)
    assert no_msg.value.condition == "no-such-message"
    with pytest.raises(InvalidEnvelope):
        search(log, "ck", {**_query(), "object": {"type": "search", "cursor": "!!"}}, "ann")


def test_conversations_windows_and_stamps() -> None:
    assert conversation_of(_msg(1), own=False) == "#chan@irc.test"
    pm = _msg(1, target={"type": "person", "id": "ann@irc.test"})
    assert conversation_of(pm, own=False) == "bob@irc.test"
    assert conversation_of({**pm, "target": {"type": "person", "id": "Bob@x"}}, own=True) == "bob@x"
    assert conversation_of({"type": "join", "target": ROOM}, own=False) is None
    assert window(5, 50, None, "latest", 10) == (41, 50)
    assert window(5, 50, 8, "before", 10) == (5, 7)
    assert window(5, 50, 48, "around", 10) == (41, 50)
    plain = {"type": "send", "object": {"type": "message", "content": "x"}}
    stamped = stamp(plain)
    assert stamped["object"]["id"].startswith("sh-") and stamped["published"].endswith("Z")
    assert "id" not in plain["object"]  # a copy
    assert stamp(stamped) is stamped
