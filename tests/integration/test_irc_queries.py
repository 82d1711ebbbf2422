"""IRC queries against real servers, checked by independent raw-socket clients: a person's
profile (WHOIS) and the server's channel list (LIST), with IRCv3 labels on InspIRCd 3 and
without them on ngircd."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from connectors.irc.whois import whois
from envelopes.errors import NotFound

from ..servers.inspircd import InspIrcd, run_inspircd
from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..session import browsers
from ..stack import Stack
from .test_irc import Browser
from .test_irc_ircv3 import run, upstream

pytestmark = pytest.mark.integration

CHANNELS = 2000
# Every tenth channel's topic has "apple" in it: 200 of them.
PERMCHANNELS = "".join(
    f'<permchannels channel="#perm{i:04d}" modes="nt" '
    f'topic="topic number {i} {"apple" if i % 10 == 0 else "pear"}">\n'
    for i in range(CHANNELS)
)


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InspIrcd]:
    """InspIRCd 3 with its IRCv3 modules and 2,000 channels with topics (``permchannels``)."""
    directory = tmp_path_factory.mktemp("inspircd-list")
    with run_inspircd(directory, modules=("permchannels",), extra=PERMCHANNELS) as server:
        yield server


@pytest.fixture(scope="module")
def ngircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with run_ngircd(tmp_path_factory.mktemp("ngircd")) as server:
        yield server


@pytest.fixture(scope="module")
def q_stack(listed):
    # 2,000 LIST lines at once: past the default burst of 1000 the inbound budget would
    # pace them at 100 a second (docs/irc.md), which a big network's list is, not a test's.
    env = {"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_IRC_LINE_BURST": "5000"}
    s = Stack(platforms=("irc",), env_overrides=env).start()
    yield s
    s.stop()


@pytest.fixture
def on_inspircd(q_stack, listed):
    yield from browsers(partial(Browser, q_stack, listed))


@pytest.fixture
def on_ngircd(q_stack, ngircd):
    yield from browsers(partial(Browser, q_stack, ngircd))


@pytest.fixture
def people():
    """Independent clients: ``make(nick, realname, channel=None, away=None)``."""
    made: list[RawIrcClient] = []

    def make(server: Any, nick: str, realname: str, channel: str | None = None, away=None):
        c = RawIrcClient(server.host, server.port, nick, realname=realname)
        made.append(c)
        if channel:
            c.send(f"JOIN {channel}")
            c.wait_for(lambda line: " 366 " in line)
        if away:
            c.send(f"AWAY :{away}")
            c.wait_for(" 306 ")
        return c

    yield make
    for c in made:
        c.close()


def person(b: Browser, nick: str) -> dict[str, str]:
    return {"type": "person", "id": f"{nick}@{b.server}", "name": nick}


def service(b: Browser) -> dict[str, str]:
    return {"type": "service", "id": b.server, "name": b.server}


# -- WHOIS -------------------------------------------------------------------------------
def test_a_label_correlates_each_whois_while_others_are_in_flight(listed, people):
    people(listed, "bob", "Bob Builder", "#site")
    people(listed, "carol", "Carol Singer", away="gone fishing")

    async def go() -> tuple[bool, list[str], list[Any]]:
        up = upstream(listed, "asker")
        await up.connect()
        sent: list[str] = []
        raw = up.raw
        up.raw = lambda line, field=None: (sent.append(line), raw(line, field))[1]  # type: ignore[method-assign]
        try:
            got = await asyncio.gather(
                whois(up, "bob", 10),
                whois(up, "carol", 10),
                whois(up, "nobody", 10),
                whois(up, "bob", 10),
                return_exceptions=True,
            )
        finally:
            await up.close("bye")
        return up.labels, sent, got

    labels, sent, (bob, carol, nobody, bob_again) = run(go())
    assert labels
    assert all(line.startswith("@label=") for line in sent if "WHOIS" in line), sent
    assert bob["realName"] == "Bob Builder" and bob["name"] == "bob"
    assert bob["rooms"] == [f"#site@{listed.host}"]
    assert bob["host"].endswith("@127.0.0.1") and bob["server"] == listed.name
    assert "away" not in bob and bob_again == bob
    assert carol["realName"] == "Carol Singer" and carol["away"] == "gone fishing"
    assert isinstance(nobody, NotFound), nobody


def test_a_profile_through_the_gateway_and_an_unknown_nick(on_inspircd, people, listed):
    people(listed, "dora", "Dora Explorer", "#maps", away="exploring")
    b = on_inspircd("looker")
    reply = b.ok("query", target=person(b, "dora"), object={"type": "profile"})
    got = reply["result"]["object"]
    assert got["type"] == "profile" and got["name"] == "dora"
    assert got["realName"] == "Dora Explorer" and got["away"] == "exploring"
    assert got["rooms"] == [f"#maps@{listed.host}"] and isinstance(got["idle"], int)
    failed = b.request("query", target=person(b, "ghost"), object={"type": "profile"})
    assert failed["status"] == "failed", failed
    assert failed["error"]["code"] == "not-found"
    assert failed["error"]["details"][0]["condition"] == "no-such-nick"
    b.forget()
    errors = [
        f for f in b.client.frames if f.get("kind") == "event" and f["activity"]["type"] == "error"
    ]
    assert errors == []  # the failed reply said it; no error event as well


# -- LIST --------------------------------------------------------------------------------
def rooms(b: Browser, **obj: Any) -> dict[str, Any]:
    reply = b.ok("query", target=service(b), object={"type": "rooms", **obj})
    result: dict[str, Any] = reply["result"]["object"]
    return result


def test_the_channel_list_is_fetched_once_searched_and_paged(on_inspircd, q_stack):
    first, second = on_inspircd("lister"), on_inspircd("browser2")
    page = rooms(first, search="APPLE", limit=50)
    assert page["type"] == "collection" and page["totalItems"] == CHANNELS // 10
    names: list[str] = []
    while True:
        assert len(page["items"]) <= 50
        for item in page["items"]:
            assert item["type"] == "room" and "apple" in item["summary"], item
            assert item["id"] == f"{item['name']}@{first.server}" and item["members"] == 0
            names.append(item["name"])
        if page["next"] is None:
            break
        page = rooms(first, search="apple", limit=50, cursor=page["next"])
    assert len(set(names)) == CHANNELS // 10 and "#perm0420" in names
    # Another session on another connection: the same list, not fetched again.
    everything = rooms(second, limit=500)
    assert everything["totalItems"] == CHANNELS and len(everything["items"]) == 500
    again = rooms(first, limit=1)
    assert again["next"].split(":")[0] == everything["next"].split(":")[0]  # one version
    one = rooms(second, search="#perm1234")
    assert [i["summary"] for i in one["items"]] == ["topic number 1234 pear"]  # modes cut
    # In Redis once, sealed: no topic in the clear.
    r = q_stack.redis()
    stored = list(r.scan_iter("sh:irclist:*"))
    assert len([k for k in stored if k.endswith(b":s")]) == 1, stored
    for key in stored:
        if key.endswith(b":s"):
            assert b"topic number" not in b"".join(r.hvals(key))


# -- ngircd: no IRCv3, the same flows without labels -------------------------------------
def test_profile_and_channel_list_without_labels(on_ngircd, people, ngircd):
    owner = people(ngircd, "owner", "Channel Owner", "#garden")
    owner.send("TOPIC #garden :roses and apples")
    owner.send("JOIN #kitchen")
    owner.send("TOPIC #kitchen :pots")
    owner.wait_for(" TOPIC #kitchen ")
    b = on_ngircd("classic")
    got = b.ok("query", target=person(b, "owner"), object={"type": "profile"})["result"]
    assert got["object"]["realName"] == "Channel Owner"
    assert sorted(got["object"]["rooms"]) == [f"#garden@{ngircd.host}", f"#kitchen@{ngircd.host}"]
    failed = b.request("query", target=person(b, "ghost"), object={"type": "profile"})
    assert failed["error"]["code"] == "not-found", failed
    found = rooms(b, search="apple")
    assert [(i["name"], i["summary"]) for i in found["items"]] == [("#garden", "roses and apples")]
    first = rooms(b, limit=1, search="#")  # ngircd lists its &SERVER channel too
    assert first["totalItems"] == 2 and first["next"]
    rest = rooms(b, limit=1, search="#", cursor=first["next"])
    assert rest["next"] is None
    assert {first["items"][0]["name"], rest["items"][0]["name"]} == {"#garden", "#kitchen"}
