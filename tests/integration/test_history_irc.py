"""History and search of the own log through the whole stack against a real ngircd.

An independent raw client speaks in a channel and in a private query; the browser's
``query`` history returns every message in order with ids and times, pages by cursor,
search finds by words; another session (another nick, same server) reads nothing of it;
the connection's end deletes the log; a scan of Redis finds no message text.
"""

from __future__ import annotations

import secrets
import time
from functools import partial

import pytest

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..session import browsers, msg
from ..stack import Stack
from .test_at_rest import leaks
from .test_irc import Browser

pytestmark = pytest.mark.integration

COUNT = 50


@pytest.fixture(scope="module")
def ircd(tmp_path_factory):
    with run_ngircd(tmp_path_factory.mktemp("ircd-history")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(ircd):
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_IRC_FLOOD_RATE": "0",
            "SOCKETHUB_REQUEST_TIMEOUT": "20",
            "SOCKETHUB_HISTORY_MAX_MESSAGES": "60",
            "SOCKETHUB_RESUME_GRACE": "2",  # a closed tab's session ends soon
        },
    ).start()
    yield s
    s.stop()


@pytest.fixture
def browser(stack, ircd):
    yield from browsers(partial(Browser, stack, ircd))


def _history(b: Browser, target: dict, **obj) -> dict:
    reply = b.request("query", target=target, object={"type": "history", **obj})
    assert reply["status"] == "completed", reply
    return reply["result"]["object"]


def _contents(page: dict) -> list[str]:
    return [i["object"]["content"] for i in page["items"]]


def test_history_and_search_of_a_channel_and_a_private_query(stack, ircd, browser):
    tag = secrets.token_hex(4)
    b = browser("logger")
    room = b.room("#logged")
    b.ok("join", target=room)
    with RawIrcClient(ircd.host, ircd.port, "talker") as peer:
        peer.send("JOIN #logged")
        peer.wait_for(lambda line: " 366 " in line)
        for n in range(COUNT):
            peer.send(f"PRIVMSG #logged :room {tag} {n}")
            peer.send(f"PRIVMSG logger :private {tag} {n}")
        b.event(lambda a: a["object"].get("content") == f"private {tag} {COUNT - 1}", timeout=20)
        b.ok("send", target=room, object=msg(f"my answer {tag}"))
        mine_pm = b.ok(
            "send",
            target={"type": "person", "id": f"talker@{ircd.host}", "name": "talker"},
            object=msg(f"my private answer {tag}"),
        )
        assert mine_pm["result"]["object"]["id"] and mine_pm["result"]["published"]

    page = _history(b, room)
    assert _contents(page) == [f"room {tag} {n}" for n in range(COUNT)] + [f"my answer {tag}"]
    assert all(i["object"]["id"] and i["published"] for i in page["items"])
    assert page["first"] == page["items"][0]["object"]["id"]
    assert page["more"] == {"before": False, "after": False}
    assert page["items"][0]["actor"]["id"] == f"talker@{ircd.host}"
    ids = [i["object"]["id"] for i in page["items"]]
    # the live events carried the same ids
    live = [
        f["activity"]["object"]["id"]
        for f in b.client.frames
        if f.get("kind") == "event"
        and f["activity"].get("target", {}).get("id") == room["id"]
        and f["activity"]["type"] == "send"
    ]
    assert live == ids[:COUNT]

    older = _history(b, room, before=ids[20], limit=5)
    assert [i["object"]["id"] for i in older["items"]] == ids[15:20]
    assert older["more"] == {"before": True, "after": True}
    newer = _history(b, room, after=ids[45])
    assert [i["object"]["id"] for i in newer["items"]] == ids[46:]
    around = _history(b, room, around=ids[10], limit=3)
    assert [i["object"]["id"] for i in around["items"]] == ids[9:12]

    talker = {"type": "person", "id": f"talker@{ircd.host}", "name": "talker"}
    pms = _history(b, talker)
    assert _contents(pms) == [f"private {tag} {n}" for n in range(COUNT)] + [
        f"my private answer {tag}"
    ]

    too_many = b.request("query", target=room, object={"type": "history", "limit": 501})
    assert too_many["status"] == "failed" and too_many["error"]["code"] == "invalid-envelope"
    assert "limit" in too_many["error"]["message"] or "limit" in str(too_many["error"])

    found = b.request("query", target=room, object={"type": "search", "content": f"{tag} 7"})
    assert found["status"] == "completed", found
    assert _contents(found["result"]["object"]) == [f"room {tag} 7"]
    everywhere = b.ok(
        "query", target=b.actor, object={"type": "search", "content": f"{tag} answer", "limit": 1}
    )["result"]["object"]
    assert _contents(everywhere) == [f"my private answer {tag}"] and everywhere["next"]
    rest = b.ok(
        "query",
        target=b.actor,
        object={"type": "search", "content": f"{tag} answer", "cursor": everywhere["next"]},
    )["result"]["object"]
    assert _contents(rest) == [f"my answer {tag}"] and rest["next"] is None

    # another session on the same server, as another nick: nothing of it, clearly refused
    other = browser("stranger")
    for obj in ({"type": "history"}, {"type": "search", "content": tag}):
        reply = other.request("query", target=room, object=obj)
        assert reply["status"] == "failed", reply
        assert reply["error"]["code"] == "not-found", reply
    everywhere = other.ok("query", target=other.actor, object={"type": "search", "content": tag})
    assert everywhere["result"]["object"]["items"] == []

    # nothing of it readable in Redis
    r = stack.redis()
    needles = {"room text": f"room {tag} 3", "private text": f"private {tag} 4", "tag": tag}
    found_plain = leaks(r, needles)
    assert not found_plain, "readable in Redis:\n" + "\n".join(found_plain)
    assert r.keys("sh:log:irc:*")

    # the connection ends with its last session: its log keys are deleted
    b.ok("disconnect")
    other.ok("disconnect")
    deadline = time.time() + 10
    while r.keys("sh:log:irc:*"):
        assert time.time() < deadline, r.keys("sh:log:irc:*")
        time.sleep(0.05)


def test_the_bound_drops_the_oldest(stack, ircd, browser):
    b = browser("bounded")
    room = b.room("#bounded")
    b.ok("join", target=room)
    with RawIrcClient(ircd.host, ircd.port, "flooder") as peer:
        peer.send("JOIN #bounded")
        peer.wait_for(lambda line: " 366 " in line)
        for n in range(70):
            peer.send(f"PRIVMSG #bounded :line {n}")
        b.event(lambda a: a["object"].get("content") == "line 69", timeout=20)
    page = _history(b, room, limit=500)
    assert _contents(page) == [f"line {n}" for n in range(10, 70)]  # the newest 60


def test_the_log_is_deleted_once_the_sessions_have_ended(stack, ircd):
    """No disconnect: the tab goes away, its session's grace expires, the connection
    closes ("no session left") and its log keys go with its record."""
    r = stack.redis()
    before = set(r.keys("sh:log:irc:*"))
    b = Browser(stack, ircd, "leaver")
    b.ok("connect")
    room = b.room("#leaving")
    b.ok("join", target=room)
    b.ok("send", target=room, object=msg("said before leaving"))
    assert _contents(_history(b, room)) == ["said before leaving"]
    mine = set(r.keys("sh:log:irc:*")) - before
    assert mine
    b.close()
    deadline = time.time() + 30
    while mine & set(r.keys("sh:log:irc:*")):
        assert time.time() < deadline, "the log outlived its connection's sessions"
        time.sleep(0.2)
