"""People on IRC through the whole stack, checked by independent raw-socket clients:
away as presence (both ways), every role and each host in NAMES, host and real-name
changes, invitations and MONITOR against InspIRCd 3; the same requests against ngircd,
which has none of these IRCv3 parts, refused or done without them."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..session import browsers
from ..stack import Stack
from .test_irc import Browser

pytestmark = pytest.mark.integration

MAX_WATCH = 2  # SOCKETHUB_IRC_MAX_MONITOR here: below InspIRCd's own MONITOR=30


@pytest.fixture(scope="module")
def ngircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with run_ngircd(tmp_path_factory.mktemp("ngircd")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(inspircd, ngircd):
    env = {"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_IRC_MAX_MONITOR": str(MAX_WATCH)}
    s = Stack(platforms=("irc",), env_overrides=env).start()
    yield s
    s.stop()


@pytest.fixture
def browser(stack, inspircd):
    yield from browsers(partial(Browser, stack, inspircd))


@pytest.fixture
def old_browser(stack, ngircd):
    yield from browsers(partial(Browser, stack, ngircd))


@pytest.fixture
def raw(inspircd, ngircd):
    """Independent clients asking for the IRCv3 capabilities given (on InspIRCd)."""
    clients: list[RawIrcClient] = []

    def make(nick: str, channel: str | None = None, caps: str = "", server: Any = None):
        srv = server or inspircd
        c = RawIrcClient(srv.host, srv.port, nick)
        clients.append(c)
        if caps:
            c.send(f"CAP REQ :{caps}")
            c.wait_for(" ACK ")
        if channel:
            c.send(f"JOIN {channel}")
            c.wait_for(lambda line: " 366 " in line)
        return c

    yield make
    for c in clients:
        c.close()


def person(b: Browser, nick: str) -> dict[str, str]:
    return {"type": "person", "id": f"{nick}@{b.server}", "name": nick}


def presence(state: str, **extra: Any) -> dict[str, Any]:
    return {"type": "presence", "presence": state, **extra}


def is_presence(nick: str, state: str):
    return lambda a: (
        a["type"] == "update"
        and a["object"]["type"] == "presence"
        and a["actor"]["name"] == nick
        and a["object"]["presence"] == state
    )


def test_away_both_ways(browser, raw):
    b = browser("roamer")
    b.ok("join", target=b.room("#away"))
    alice = raw("alice", "#away", caps="away-notify")
    b.ok("update", object=presence("away", content="at lunch"))
    line = alice.wait_for(lambda ln: ln.startswith(":roamer!") and " AWAY" in ln)
    assert line.endswith("AWAY :at lunch")
    b.ok("update", object=presence("online"))
    back = alice.wait_for(lambda ln: ln.startswith(":roamer!") and " AWAY" in ln)
    assert back.endswith(" AWAY")  # no text: back

    alice.send("AWAY :brb")
    got = b.event(is_presence("alice", "away"))
    assert got["object"] == presence("away", content="brb")
    assert got["actor"]["host"].endswith("@127.0.0.1") and got["target"] == person(b, "roamer")
    alice.send("AWAY")
    assert b.event(is_presence("alice", "online"))["object"] == presence("online")


def test_who_was_away_before_we_joined_and_in_names(browser, raw):
    carol = raw("carol", "#lounge")
    carol.send("AWAY :on holiday")
    carol.wait_for(" 306 ")
    b = browser("latecomer")
    b.ok("join", target=b.room("#lounge"))
    got = b.event(is_presence("carol", "away"))  # WHO after our JOIN (away-notify)
    assert got["actor"]["host"] == "carol@127.0.0.1"
    names = b.ok("query", target=b.room("#lounge"), object={"type": "attendance"})["result"]
    assert names["object"]["away"] == {"carol": ""}  # WHO says away, not why


def test_every_role_and_each_host_in_names(browser, raw):
    owner = raw("founder", "#roles")
    owner.send("MODE #roles +v founder")
    owner.wait_for("MODE #roles +v")
    b = browser("counted")
    b.ok("join", target=b.room("#roles"))
    names = b.ok("query", target=b.room("#roles"), object={"type": "attendance"})["result"]
    obj = names["object"]
    assert obj["roles"]["founder"] == "operator"  # the highest, as before
    assert obj["allRoles"] == {"founder": ["operator", "voice"]}  # multi-prefix
    assert obj["hosts"] == {"founder": "founder@127.0.0.1", "counted": "counted@127.0.0.1"}


def test_a_host_change_is_one_update_not_a_quit_and_join(browser, raw):
    b = browser("observer")
    b.ok("join", target=b.room("#hosts"))
    oper = raw("oper1", "#hosts")
    oper.send("OPER oper operpass")
    oper.wait_for(" 381 ")
    mover = raw("mover", "#hosts")
    b.event(lambda a: a["type"] == "join" and a["actor"]["name"] == "mover")
    oper.send("CHGHOST mover cloaked.example")
    got = b.event(lambda a: a["type"] == "update" and a["object"]["type"] == "profile")
    assert got["actor"]["name"] == "mover"
    assert got["object"] == {"type": "profile", "host": "mover@cloaked.example"}
    mover.send("PRIVMSG #hosts :still here")
    b.event(lambda a: a["type"] == "send" and a["object"]["content"] == "still here")
    left = [
        f
        for f in b.client.frames
        if f.get("kind") == "event"
        and f["activity"]["type"] in ("leave", "join")
        and f["activity"]["actor"]["name"] == "mover"
    ]
    assert [f["activity"]["type"] for f in left] == ["join"]  # no fake QUIT and JOIN


def test_real_names_change_both_ways(browser, raw):
    b = browser("renamer")
    b.ok("join", target=b.room("#names"))
    dave = raw("dave", "#names", caps="setname")
    dave.send("SETNAME :Dave the Second")
    got = b.event(lambda a: a["type"] == "update" and a["object"]["type"] == "profile")
    assert got["object"] == {"type": "profile", "realName": "Dave the Second"}
    assert got["actor"]["realName"] == "Dave the Second"
    b.ok("update", object={"type": "profile", "realName": "Web Person"})
    mine = dave.wait_for(lambda ln: ln.startswith(":renamer!") and " SETNAME " in ln)
    assert mine.endswith("SETNAME :Web Person")
    dave.send("WHOIS renamer")
    assert dave.wait_for(" 311 ").endswith(":Web Person")


def test_an_invite_to_our_channel_is_shown(browser, raw):
    host = raw("host1", "#party")
    b = browser("guest")
    b.ok("join", target=b.room("#party"))
    raw("outsider")
    # InspIRCd tells channel operators (its announceinvites="dynamic"): make us one
    host.send("MODE #party +o guest")
    b.event(lambda a: a["type"] == "add" and a["object"]["role"] == "operator")
    host.send("INVITE outsider #party")
    got = b.event(lambda a: a["type"] == "invite")
    assert got["actor"]["name"] == "host1"
    assert got["target"] == person(b, "outsider")
    assert got["object"] == b.room("#party")


def test_monitor_online_and_offline(browser, raw):
    b = browser("lookout")
    frank = person(b, "frank")
    reply = b.ok("query", target=frank, object={"type": "presence"})
    assert reply["result"]["object"] == presence("offline")
    b.event(is_presence("frank", "offline"))  # the answer, as an event for every session
    f = raw("frank")
    b.event(is_presence("frank", "online"))
    again = b.ok("query", target=frank, object={"type": "presence"})
    assert again["result"]["object"] == presence("online")  # known: no new MONITOR
    f.close()
    b.event(is_presence("frank", "offline"))
    b.ok("query", target=frank, object={"type": "presence", "watch": False})
    raw("frank")  # back, but no longer watched
    b.ok("query", target=person(b, "gina"), object={"type": "presence"})
    b.ok("query", target=person(b, "hank"), object={"type": "presence"})
    full = b.request("query", target=person(b, "ivan"), object={"type": "presence"})
    assert full["status"] == "failed", full
    assert full["error"]["code"] == "refused"
    assert full["error"]["details"][0]["condition"] == "monitor-list-full"
    assert "SOCKETHUB_IRC_MAX_MONITOR" in full["error"]["message"]
    frames = [f for f in b.client.frames if f.get("kind") == "event"]
    online = [f for f in frames if is_presence("frank", "online")(f["activity"])]
    assert len(online) == 1  # not after watch: false


def test_the_watch_list_survives_a_reconnect(browser, raw):
    b = browser("steadfast")
    b.ok("query", target=person(b, "kim"), object={"type": "presence"})
    b.event(is_presence("kim", "offline"))
    oper = raw("oper2")
    oper.send("OPER oper operpass")
    oper.wait_for(" 381 ")
    oper.send("KILL steadfast :testing the watch list")
    b.state("reconnecting")
    b.state("connected", timeout=20)
    b.event(is_presence("kim", "offline"), timeout=10)  # watched again: the server says so
    raw("kim")
    b.event(is_presence("kim", "online"))


# -- ngircd: none of these IRCv3 parts -----------------------------------------------------
def test_without_ircv3_away_still_works_and_the_rest_is_refused(old_browser, raw, ngircd):
    b = old_browser("classic")
    b.ok("join", target=b.room("#old"))
    other = raw("oldie", "#old", server=ngircd)
    b.ok("update", object=presence("away", content="gone fishing"))  # AWAY is RFC 2812
    other.send("WHOIS classic")
    assert other.wait_for(" 301 ").endswith(":gone fishing")
    b.ok("update", object=presence("online"))
    for verb, obj, feature in (
        ("query", {"type": "presence"}, "MONITOR"),
        ("update", {"type": "profile", "realName": "New"}, "the setname capability"),
    ):
        parts = {"target": person(b, "oldie")} if verb == "query" else {}
        reply = b.request(verb, object=obj, **parts)
        assert reply["status"] == "failed", reply
        assert reply["error"]["code"] == "refused"
        assert reply["error"]["details"][0]["condition"] == "unsupported"
        assert feature in reply["error"]["message"]
    names = b.ok("query", target=b.room("#old"), object={"type": "attendance"})["result"]
    assert set(names["object"]) == {"type", "members", "roles"}  # nothing more to say
