"""IRCv3 client tags through the whole stack, checked by independent raw-socket clients:
typing (``+typing``), replies (``+draft/reply``) and reactions (``+draft/react``) both ways
against InspIRCd 3 (``ircv3_ctctags``); against ngircd (no message-tags) typing is dropped
quietly, a reaction refused naming the capability, a reply sent as a plain message."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ..servers.inspircd import InspIrcd
from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..session import browsers, msg
from ..stack import Stack
from .test_irc import Browser

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(inspircd: InspIrcd) -> Iterator[Stack]:
    s = Stack(platforms=("irc",), env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0"}).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def ngircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with run_ngircd(tmp_path_factory.mktemp("ngircd")) as server:
        yield server


@pytest.fixture
def browser(stack, inspircd):
    yield from browsers(partial(Browser, stack, inspircd))


@pytest.fixture
def raw() -> Iterator[Any]:
    """Independent clients; with ``tags`` they ask for message-tags (and see client tags)."""
    clients: list[RawIrcClient] = []

    def make(server: Any, nick: str, channel: str, tags: bool = True) -> RawIrcClient:
        c = RawIrcClient(server.host, server.port, nick)
        clients.append(c)
        if tags:
            c.send("CAP REQ :message-tags")
            c.wait_for(" ACK ")
        c.send(f"JOIN {channel}")
        c.wait_for(lambda line: " 366 " in line)
        return c

    yield make
    for c in clients:
        c.close()


def tags(line: str) -> dict[str, str]:
    assert line.startswith("@"), line
    return dict(t.partition("=")[::2] for t in line[1:].split(" ", 1)[0].split(";"))


def typing(state: str) -> dict[str, str]:
    return {"type": "typing", "state": state}


def test_typing_both_ways_and_active_is_rate_limited(browser, raw, inspircd):
    b = browser("typist")
    b.ok("join", target=b.room("#typing"))
    bob = raw(inspircd, "bob", "#typing")
    b.ok("typing", target=b.room("#typing"), object=typing("composing"))
    got = bob.wait_for(lambda ln: " TAGMSG " in ln and "#typing" in ln and ":typist!" in ln)
    assert tags(got)["+typing"] == "active"
    # Again within 3 s: not sent (the +typing spec); stopping always goes.
    b.ok("typing", target=b.room("#typing"), object=typing("composing"))
    b.ok("typing", target=b.room("#typing"), object=typing("active"))
    got = bob.wait_for(lambda ln: " TAGMSG " in ln and "#typing" in ln and ":typist!" in ln)
    assert tags(got)["+typing"] == "done", got

    bob.send("@+typing=paused TAGMSG #typing")
    event = b.event(lambda a: a["type"] == "typing")
    assert event["actor"]["id"] == f"bob@{inspircd.host}"
    assert event["target"] == b.room("#typing")
    assert event["object"] == typing("paused")
    # Our own typing, echoed by the server (echo-message), is no event.
    mine = [
        f
        for f in b.client.frames
        if f.get("kind") == "event"
        and f["activity"]["type"] == "typing"
        and f["activity"]["actor"]["name"] == "typist"
    ]
    assert mine == []


def test_replies_both_ways(browser, raw, inspircd):
    b = browser("replier")
    b.ok("join", target=b.room("#replies"))
    bob = raw(inspircd, "rob", "#replies")
    bob.send("PRIVMSG #replies :question?")
    asked = b.event(lambda a: a["type"] == "send" and a["object"]["content"] == "question?")
    question = asked["object"]["id"]
    reply = b.ok("send", target=b.room("#replies"), object=msg("answer", inReplyTo=question))
    line = bob.wait_for("PRIVMSG #replies :answer")
    assert tags(line)["+draft/reply"] == question
    assert reply["result"]["object"]["inReplyTo"] == question
    answer = reply["result"]["object"]["id"]
    bob.send(f"@+draft/reply={answer} PRIVMSG #replies :thanks")
    thanks = b.event(lambda a: a["type"] == "send" and a["object"]["content"] == "thanks")
    assert thanks["object"]["inReplyTo"] == answer


def test_reactions_both_ways(browser, raw, inspircd):
    b = browser("reactor")
    b.ok("join", target=b.room("#react"))
    bob = raw(inspircd, "rex", "#react")
    bob.send("PRIVMSG #react :like this")
    liked = b.event(lambda a: a["type"] == "send" and a["object"]["content"] == "like this")
    mid = liked["object"]["id"]
    reaction = {"type": "reaction", "inReplyTo": mid, "content": "👍"}
    b.ok("react", target=b.room("#react"), object=reaction)
    seen = tags(bob.wait_for(lambda ln: " TAGMSG " in ln and "#react" in ln and ":reactor!" in ln))
    assert seen["+draft/reply"] == mid and seen["+draft/react"] == "👍"
    b.ok("react", target=b.room("#react"), object={**reaction, "remove": True})
    seen = tags(bob.wait_for(lambda ln: " TAGMSG " in ln and "#react" in ln and ":reactor!" in ln))
    assert seen["+draft/unreact"] == "👍"

    bob.send(f"@+draft/reply={mid};+draft/react=🎉 TAGMSG #react")
    event = b.event(lambda a: a["type"] == "react")
    assert event["actor"]["id"] == f"rex@{inspircd.host}"
    assert event["object"] == {"type": "reaction", "inReplyTo": mid, "content": "🎉"}


def test_delete_is_refused_without_message_redaction(browser, inspircd):
    b = browser("redactor")
    b.ok("join", target=b.room("#redact"))
    reply = b.request("delete", target=b.room("#redact"), object={"type": "message", "id": "x"})
    assert reply["status"] == "failed", reply
    assert reply["error"]["code"] == "refused"
    assert "draft/message-redaction" in reply["error"]["message"]


def test_without_message_tags_typing_is_quiet_reactions_refused_replies_plain(stack, raw, ngircd):
    make = browsers(partial(Browser, stack, ngircd))
    new = next(make)
    try:
        b = new("classic")
        b.ok("join", target=b.room("#plain"))
        bob = raw(ngircd, "ned", "#plain", tags=False)
        b.ok("typing", target=b.room("#plain"), object=typing("composing"))
        reaction = {"type": "reaction", "inReplyTo": "m1", "content": "👍"}
        refused = b.request("react", target=b.room("#plain"), object=reaction)
        assert refused["status"] == "failed" and refused["error"]["code"] == "refused"
        assert refused["error"]["details"][0]["condition"] == "unsupported"
        assert "message-tags" in refused["error"]["message"]
        sent = b.ok("send", target=b.room("#plain"), object=msg("plain answer", inReplyTo="m1"))
        assert "inReplyTo" not in sent["result"]["object"]  # it went without the reference
        line = bob.wait_for("PRIVMSG #plain :plain answer")
        assert line.startswith(":classic!")  # no tags, and nothing came before it
        assert not [ln for ln in bob.lines if "TAGMSG" in ln]
    finally:
        next(make, None)
