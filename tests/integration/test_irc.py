"""IRC through the whole stack against a real ngircd, checked by an independent client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import pytest

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..session import Browser as BaseBrowser
from ..session import browsers, msg
from ..stack import Stack
from ..wsclient import Client, activity

# Failover tests: a killed node's leases lapse in 6 s (renewed every 2 s), not the default 15.
FAST_LEASE = "6"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ircd(tmp_path_factory):
    with run_ngircd(tmp_path_factory.mktemp("ircd")) as server:
        yield server


@pytest.fixture(scope="module")
def irc_stack(ircd):
    s = Stack(
        platforms=("irc",),
        env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_REQUEST_TIMEOUT": "20"},
    ).start()
    yield s
    s.stop()


class Browser(BaseBrowser):
    """A browser-side session speaking IRC through the gateway."""

    platform = "irc"

    def __init__(self, stack: Stack, ircd, nick: str, **creds):
        self.nick = nick
        self.server = ircd.host
        actor = {"id": f"{nick}@{ircd.host}", "type": "person", "name": nick}
        c = {"nick": nick, "server": ircd.host, "port": ircd.port, "secure": False, **creds}
        super().__init__(stack, actor, c)

    def room(self, channel: str) -> dict:
        return {"id": f"{channel}@{self.server}", "type": "room", "name": channel}


def test_connect_join_send_and_receive(irc_stack, ircd):
    b = Browser(irc_stack, ircd, "webby")
    reply = b.ok("connect")
    assert reply["result"]["object"]["nick"] == "webby"
    connecting = b.event(lambda a: a["object"]["state"] == "connecting")
    state = b.event(lambda a: a["type"] == "connect" and a["object"]["state"] == "connected")
    assert connecting["target"]["name"] == "webby"
    assert state["actor"] == {"type": "service", "id": ircd.host, "name": ircd.host}
    states = [
        f["activity"]["object"]["state"]
        for f in b.client.frames
        if f.get("kind") == "event" and f["activity"]["type"] in ("connect", "disconnect")
    ]
    assert states[:2] == ["connecting", "connected"]

    with RawIrcClient(ircd.host, ircd.port, "watcher") as other:
        other.send("JOIN #lobby")
        other.wait_for(lambda line: " 366 " in line)
        b.ok("join", target=b.room("#lobby"))
        other.wait_for(lambda line: "JOIN" in line and line.startswith(":webby!"))
        # the browser sees who is there and the topic state on join
        names = b.event(lambda a: a["type"] == "query")
        assert "watcher" in names["object"]["members"]

        b.ok("send", target=b.room("#lobby"), object=msg("hello from the web"))
        line = other.wait_for(lambda ln: "PRIVMSG #lobby" in ln)
        assert line.endswith(":hello from the web")

        other.send("PRIVMSG #lobby :hello browser")
        got = b.event(lambda a: a["type"] == "send")
        assert got["actor"] == {"type": "person", "id": f"watcher@{ircd.host}", "name": "watcher"}
        assert got["target"] == b.room("#lobby")
        # ngircd gives no msgid: the worker's own id, the one history has (docs/irc.md)
        assert got["object"].pop("id").startswith("sh-") and got["published"]
        assert got["object"] == {"type": "message", "content": "hello browser"}
    b.ok("disconnect")
    b.close()


@pytest.fixture
def watcher(ircd):
    """An independent IRC client (a plain socket, not our connector)."""
    clients = []

    def make(nick: str, channel: str | None = None) -> RawIrcClient:
        c = RawIrcClient(ircd.host, ircd.port, nick)
        c.__enter__()
        clients.append(c)
        if channel:
            c.send(f"JOIN {channel}")
            c.wait_for(lambda line: " 366 " in line)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def browser(irc_stack, ircd):
    yield from browsers(partial(Browser, irc_stack, ircd))


def test_every_outgoing_verb_reaches_the_channel(browser, watcher, ircd):
    w = watcher("w1", "#verbs")
    b = browser("verbsy")
    b.ok("join", target=b.room("#verbs"))
    w.wait_for(lambda ln: ln.startswith(":verbsy!") and "JOIN" in ln)

    b.ok("send", target=b.room("#verbs"), object={"type": "me", "content": "waves"})
    assert w.wait_for(lambda ln: "PRIVMSG #verbs" in ln).endswith(":\x01ACTION waves\x01")
    b.ok("send", target=b.room("#verbs"), object=msg("/me nods"))
    assert w.wait_for(lambda ln: "ACTION nods" in ln)
    b.ok("send", target=b.room("#verbs"), object={"type": "notice", "content": "heads up"})
    assert w.wait_for(lambda ln: "NOTICE #verbs" in ln).endswith(":heads up")
    b.ok(
        "send",
        target={"id": f"w1@{ircd.host}", "type": "person", "name": "w1"},
        object=msg("just you"),
    )
    assert w.wait_for(lambda ln: "PRIVMSG w1 " in ln).endswith(":just you")

    # w1 joined first, so it is operator and can let us set the topic (+t is the default)
    w.send("MODE #verbs +o verbsy")
    b.event(lambda a: a["type"] == "add" and a["object"]["role"] == "operator")
    b.ok("update", target=b.room("#verbs"), object={"type": "topic", "content": "new topic"})
    assert w.wait_for(lambda ln: "TOPIC #verbs" in ln).endswith(":new topic")

    att = b.ok("query", target=b.room("#verbs"), object={"type": "attendance"})["result"]
    assert att["object"]["type"] == "attendance"
    assert set(att["object"]["members"]) == {"w1", "verbsy"}
    assert att["object"]["roles"]["w1"] == "operator"

    b.ok(
        "update",
        target={"id": f"verbsy2@{ircd.host}", "type": "person", "name": "verbsy2"},
        object={"type": "address"},
    )
    assert w.wait_for(lambda ln: " NICK " in ln).endswith("verbsy2")

    b.ok("leave", target=b.room("#verbs"), object=msg("bye all"))
    assert "PART #verbs" in w.wait_for(lambda ln: "PART" in ln)

    b.ok("join", target=b.room("#verbs"))  # QUIT is only relayed to shared channels
    w.wait_for(lambda ln: ln.startswith(":verbsy2!") and "JOIN" in ln)
    b.ok("disconnect")
    assert "QUIT" in w.wait_for(lambda ln: " QUIT" in ln)


def test_every_incoming_event_reaches_the_browser(browser, watcher, ircd):
    b = browser("eventy")
    w = watcher("w2", "#events")
    w.send("TOPIC #events :the first topic")
    w.wait_for(lambda ln: "TOPIC #events" in ln)
    b.ok("join", target=b.room("#events"))
    topic = b.event(lambda a: a["type"] == "update" and a["object"]["type"] == "topic")
    assert topic["object"]["content"] == "the first topic"
    names = b.event(lambda a: a["type"] == "query")
    assert names["object"]["roles"]["w2"] == "operator"

    def saw(pred):
        return b.event(pred)

    w.send("PRIVMSG #events :\x01ACTION dances\x01")
    assert (
        saw(lambda a: a["type"] == "send" and a["object"]["type"] == "me")["object"]["content"]
        == "dances"
    )
    w.send("NOTICE #events :notice this")
    assert saw(lambda a: a["object"].get("type") == "notice")["object"]["content"] == "notice this"
    w.send("PRIVMSG eventy :psst")
    private = saw(lambda a: a["type"] == "send" and a["object"].get("content") == "psst")
    assert private["target"]["id"] == f"eventy@{ircd.host}"
    w.send("TOPIC #events :changed topic")
    changed = saw(lambda a: a["type"] == "update" and a["object"].get("content") == "changed topic")
    assert changed["actor"]["name"] == "w2"
    w.send("MODE #events +v eventy")
    voice = saw(lambda a: a["type"] == "add")
    assert voice["object"]["role"] == "voice" and voice["target"]["name"] == "eventy"
    w.send("MODE #events -v eventy")
    assert saw(lambda a: a["type"] == "remove")["object"]["role"] == "voice"

    w3 = watcher("w3", "#events")
    assert saw(lambda a: a["type"] == "join" and a["actor"]["name"] == "w3")
    w3.send("NICK w3b")
    nick = saw(lambda a: a["type"] == "update" and a["object"].get("type") == "address")
    assert nick["actor"]["name"] == "w3" and nick["target"]["name"] == "w3b"
    w3.send("PART #events :gone")
    part = saw(lambda a: a["type"] == "leave" and a["actor"]["name"] == "w3b")
    assert part["object"]["content"] == "gone"
    w4 = watcher("w4", "#events")
    w4.send("QUIT :bye now")
    quit_ = saw(lambda a: a["type"] == "leave" and a["actor"]["name"] == "w4")
    assert quit_["target"]["type"] == "service"
    w.send("KICK #events eventy :behave")
    kick = saw(lambda a: a["type"] == "leave" and a["object"].get("type") == "kick")
    assert kick["object"]["content"] == "behave" and kick["object"]["by"]["name"] == "w2"


def test_channel_errors_are_failed_replies_with_codes(browser, watcher, ircd):
    w = watcher("w5", "#locked")
    w.send("MODE #locked +k sekrit")
    w.send("JOIN #banned")
    w.wait_for(lambda ln: "366" in ln and "#banned" in ln)
    w.send("MODE #banned +b errory!*@*")
    w.send("JOIN #full")
    w.wait_for(lambda ln: "366" in ln and "#full" in ln)
    w.send("MODE #full +l 1")
    w.send("JOIN #invite")
    w.wait_for(lambda ln: "366" in ln and "#invite" in ln)
    w.send("MODE #invite +i")
    w.wait_for(lambda ln: "MODE #invite +i" in ln)
    b = browser("errory")
    cases = {
        "#locked": "bad-channel-key",
        "#banned": "banned",
        "#full": "channel-full",
        "#invite": "invite-only",
    }
    for channel, condition in cases.items():
        reply = b.request("join", target=b.room(channel))
        assert reply["status"] == "failed", reply
        err = reply["error"]
        assert err["code"] == "refused" and err["retryable"] is False, reply
        assert err["details"][0]["condition"] == condition, reply
        assert channel in reply["error"]["message"]
    reply = b.request(
        "send",
        target={"id": f"nobody@{ircd.host}", "type": "person", "name": "nobody"},
        object=msg("hi"),
    )
    assert reply["error"]["code"] == "not-found", reply
    assert reply["error"]["details"][0] == {
        "condition": "no-such-nick",
        "platform": "irc",
        "numeric": "401",
        "target": "nobody",
    }
    reply = b.request("send", target=b.room("#lobby"), object=msg("line\r\nQUIT :x"))
    assert reply["error"]["code"] == "invalid-envelope"
    assert "CR, LF or NUL" in reply["error"]["message"]
    # the connection survived all of that
    b.ok("join", target=b.room("#afterwards"))


def test_nick_collision_at_connect_takes_an_alternative(browser, watcher, ircd):
    watcher("taken")
    b = browser("taken", connect=False)
    reply = b.ok("connect")
    assert reply["result"]["object"]["nick"] == "taken_"
    told = b.event(lambda a: a["type"] == "update" and a["object"]["type"] == "address")
    assert told["target"]["name"] == "taken_"


def test_send_before_connect_is_refused(browser):
    b = browser("early", connect=False)
    reply = b.request("join", target=b.room("#x"))
    assert reply["error"]["code"] == "not-connected"
    assert "send connect first" in reply["error"]["message"]


def test_verb_without_credentials_is_refused(irc_stack, ircd):
    c = Client(irc_stack.ws_url)
    reply = c.request(activity("irc", "connect", actor={"id": "x@y", "type": "person"}))
    assert reply["error"]["code"] == "credentials-missing"
    c.close()


def test_long_message_split_on_utf8_boundaries(browser, watcher, ircd):
    w = watcher("w6", "#long")
    b = browser("longy")
    b.ok("join", target=b.room("#long"))
    text = ("Grüße aus Köln, ünïcödé 🎉 " * 60).strip()
    b.ok("send", target=b.room("#long"), object=msg(text))
    parts = []
    deadline = time.time() + 10
    while "".join(parts).replace(" ", "") != text.replace(" ", "") and time.time() < deadline:
        line = w.wait_for(lambda ln: "PRIVMSG #long" in ln and ln not in seen_lines(parts))
        parts.append(line.split(" :", 1)[1])
        assert len(line.encode()) + 2 <= 512
    assert len(parts) > 1
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def seen_lines(parts):
    return {f"PRIVMSG #long :{p}" for p in parts}


@pytest.fixture(scope="module")
def ircd_pw(tmp_path_factory):
    with run_ngircd(tmp_path_factory.mktemp("ircd-pw"), password="same-secret") as server:
        yield server


def test_same_secret_shares_the_connection_others_are_refused(irc_stack, ircd_pw):
    made = []

    def tab(password: str) -> Browser:
        b = Browser(irc_stack, ircd_pw, "sharer", password=password)
        made.append(b)
        return b

    with RawIrcClient(ircd_pw.host, ircd_pw.port, "w7", password="same-secret") as w:
        w.send("JOIN #shared")
        w.wait_for(lambda ln: " 366 " in ln)
        a = tab("same-secret")
        a.ok("connect")
        a.ok("join", target=a.room("#shared"))
        w.wait_for(lambda ln: ln.startswith(":sharer!") and "JOIN" in ln)
        b = tab("same-secret")  # another tab, the same credentials
        assert b.ok("connect")["result"]["object"]["nick"] == "sharer"
        w.send("PRIVMSG #shared :to both tabs")
        for s in (a, b):
            got = s.event(lambda act: act["object"]["content"] == "to both tabs")
            assert got["actor"]["name"] == "w7"
        b.ok("send", target=b.room("#shared"), object=msg("from tab two"))
        assert w.wait_for(lambda ln: "PRIVMSG #shared" in ln).startswith(":sharer!")
        # one IRC connection: the watcher saw exactly one sharer join
        assert sum(1 for ln in w.lines if ln.startswith(":sharer!") and " JOIN " in ln) == 1
        # someone naming the same actor with another secret gets a clear refusal
        c = tab("other-secret")
        reply = c.request("connect")
        assert reply["status"] == "failed" and reply["error"]["code"] == "auth-failed"
        assert "Bad password" in reply["error"]["message"]
        w.send("PRIVMSG sharer :only for the owner")
        a.event(lambda act: act["object"]["content"] == "only for the owner")
        time.sleep(0.3)
        assert not any(
            f.get("kind") == "event" and "only for the owner" in str(f) for f in c.client.frames
        )
        # one tab disconnecting leaves the connection to the other
        a.ok("disconnect")
        b.ok("send", target=b.room("#shared"), object=msg("still here"))
        assert w.wait_for(lambda ln: "still here" in ln)
        b.ok("disconnect")
        assert w.wait_for(lambda ln: ln.startswith(":sharer!") and " QUIT" in ln)
    for t in made:
        t.close()


def test_dropped_connection_reconnects_and_rejoins(browser, watcher, ircd):
    w = watcher("w8", "#rejoin")
    b = browser("droppy")
    b.ok("join", target=b.room("#rejoin"))
    w.wait_for(lambda ln: ln.startswith(":droppy!") and "JOIN" in ln)
    w.send("OPER oper operpass")
    w.wait_for(lambda ln: " 381 " in ln)
    w.send("KILL droppy :testing reconnect")
    rec = b.event(lambda a: a["type"] == "connect" and a["object"]["state"] == "reconnecting")
    assert rec["object"]["attempt"] == 1 and rec["object"]["delay"] <= 1.0
    assert b.event(
        lambda a: a["type"] == "connect" and a["object"]["state"] == "connected", timeout=15
    )
    w.wait_for(lambda ln: ln.startswith(":droppy!") and " JOIN " in ln, timeout=15)
    b.ok("send", target=b.room("#rejoin"), object=msg("back again"))
    assert w.wait_for(lambda ln: "PRIVMSG #rejoin" in ln).endswith(":back again")


@contextmanager
def joined(
    stack: Stack, ircd, watcher: str, channel: str, nick: str
) -> Iterator[tuple[RawIrcClient, Browser]]:
    """An independent client ``watcher`` in ``channel``, and a browser session ``nick``
    connected through ``stack`` and joined there (the watcher has seen it come in)."""
    with RawIrcClient(ircd.host, ircd.port, watcher) as w:
        w.send(f"JOIN {channel}")
        w.wait_for(lambda ln: " 366 " in ln)
        b = Browser(stack, ircd, nick)
        b.ok("connect")
        b.ok("join", target=b.room(channel))
        w.wait_for(lambda ln: ln.startswith(f":{nick}!") and " JOIN " in ln)
        yield w, b


def _owner(stack: Stack, browser_: Browser) -> str:
    from envelopes import keys

    r = stack.redis()
    sid = browser_.client.welcome["session"]
    ckey = r.hget(keys.session_creds(sid), keys.connection_key_field("irc", browser_.actor["id"]))
    return r.get(keys.lease("irc", ckey.decode())).decode()


def test_failover_to_another_worker_node(ircd):
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_IRC_FLOOD_RATE": "0",
            "SOCKETHUB_REQUEST_TIMEOUT": "40",
            "SOCKETHUB_LEASE_SECONDS": FAST_LEASE,
        },
    ).start()
    try:
        s.start_worker("irc", name="worker-irc-2")
        with joined(s, ircd, "w9", "#failover", "survivor") as (w, b):
            owner = _owner(s, b)
            name = owner.split("@")[0]
            assert name in ("worker-irc", "worker-irc-2")
            killed_at = time.monotonic()
            s.kill(name)  # SIGKILL: no QUIT, no lease release
            w.wait_for(lambda ln: ln.startswith(":survivor!") and " QUIT " in ln, timeout=10)
            b.event(
                lambda a: a["type"] == "connect" and a["object"]["state"] == "reconnecting",
                timeout=30,
            )
            b.event(
                lambda a: a["type"] == "connect" and a["object"]["state"] == "connected", timeout=30
            )
            w.wait_for(lambda ln: ln.startswith(":survivor!") and " JOIN " in ln, timeout=30)
            assert time.monotonic() - killed_at < 20  # the 6 s lease, the janitor, a connect
            assert _owner(s, b) != owner
            b.ok("send", target=b.room("#failover"), object=msg("I survived"))
            assert w.wait_for(lambda ln: "PRIVMSG #failover" in ln).endswith(":I survived")
            b.close()
    finally:
        s.stop()


def test_flood_control_paces_lines(ircd):
    s = Stack(
        platforms=("irc",),
        env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "4", "SOCKETHUB_IRC_FLOOD_BURST": "2"},
    ).start()
    try:
        with joined(s, ircd, "w10", "#flood", "floody") as (w, b):
            time.sleep(1.0)  # let the bucket refill to its burst
            rids = [
                b.client.send(
                    activity(
                        "irc",
                        "send",
                        actor=b.actor,
                        target=b.room("#flood"),
                        object=msg(f"line {i}"),
                    )
                )
                for i in range(8)
            ]
            lines = [
                w.wait_for(lambda ln, i=i: ln.endswith(f":line {i}"), timeout=10) for i in range(8)
            ]
            for rid in rids:
                assert b.client.reply(rid)["status"] == "completed"
            # read times, taken by the client's reader thread as the bytes came in
            arrivals = sorted(w.arrived[ln] for ln in lines)
            # 2 lines at once, then 4 a second: the last arrives >= 1.5 s after the first
            # (flood control off, all 8 arrive within a few ms). Load can only add delay.
            assert arrivals[-1] - arrivals[0] >= 1.2, arrivals
            assert arrivals[2] - arrivals[0] >= 0.15, arrivals  # the third waited for a token
            b.close()
    finally:
        s.stop()


def test_clean_worker_shutdown_sends_quit(ircd):
    import signal

    s = Stack(platforms=("irc",), env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0"}).start()
    try:
        with joined(s, ircd, "w11", "#shutdown", "polite") as (w, b):
            s.kill("worker-irc", signal.SIGTERM)
            quit_line = w.wait_for(lambda ln: ln.startswith(":polite!") and " QUIT " in ln)
            assert "worker shutting down" in quit_line
            b.close()
    finally:
        s.stop()


def test_dead_peer_is_detected_and_reconnected(tmp_path_factory):
    import os
    import signal

    with run_ngircd(tmp_path_factory.mktemp("ircd-stall")) as server:
        s = Stack(
            platforms=("irc",),
            env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_IRC_PING_INTERVAL": "1"},
        ).start()
        try:
            b = Browser(s, server, "pinger")
            b.ok("connect")
            pid = server.process.pid
            os.kill(pid, signal.SIGSTOP)  # the server stops answering, the socket stays open
            try:
                rec = b.event(lambda a: a["object"].get("state") == "reconnecting", timeout=15)
                assert "no answer" in rec["object"]["reason"]
            finally:
                os.kill(pid, signal.SIGCONT)
            b.event(lambda a: a["object"].get("state") == "connected", timeout=40)
            b.close()
        finally:
            s.stop()


TLS = __import__("pathlib").Path(__file__).parent.parent / "connectors" / "fixtures" / "tls"


def test_tls_verifies_certificates_by_default(irc_stack, tmp_path_factory):
    tls = (TLS / "localhost.crt", TLS / "localhost.key")
    with run_ngircd(tmp_path_factory.mktemp("ircd-tls"), tls=tls) as server:
        b = Browser(irc_stack, server, "tlsuser", port=server.tls_port, secure=True)
        reply = b.request("connect")
        assert reply["status"] == "failed" and reply["error"]["code"] == "tls-error", reply
        assert "certificate verify failed" in reply["error"]["message"]
        b.close()
        # the operator of a self-signed server can opt out, per connection
        b = Browser(
            irc_stack, server, "tlsuser2", port=server.tls_port, secure=True, allowInvalidCert=True
        )
        with RawIrcClient(server.host, server.port, "w12") as w:
            w.send("JOIN #tls")
            w.wait_for(lambda ln: " 366 " in ln)
            b.ok("connect")
            b.ok("join", target=b.room("#tls"))
            b.ok("send", target=b.room("#tls"), object=msg("over TLS"))
            assert w.wait_for(lambda ln: "PRIVMSG #tls" in ln).endswith(":over TLS")
        b.request("disconnect")
        b.close()


def _pipelined_sends(b: Browser, target: dict, label: str, count: int = 20) -> list[str]:
    """``count`` sends written to the socket back to back, before any reply is read."""
    return [
        b.client.send(
            activity("irc", "send", actor=b.actor, target=target, object=msg(f"{label} {i:02d}"))
        )
        for i in range(count)
    ]


def test_pipelined_sends_reach_the_channel_in_order(browser, watcher):
    w = watcher("w13", "#order")
    b = browser("orderly")
    b.ok("join", target=b.room("#order"))
    w.wait_for(lambda ln: ln.startswith(":orderly!") and " JOIN " in ln)
    for round_ in range(4):
        label = f"round{round_}"
        rids = _pipelined_sends(b, b.room("#order"), label)
        got = [
            w.wait_for(lambda ln, label=label: f"PRIVMSG #order :{label} " in ln).rsplit(" ", 1)[1]
            for _ in rids
        ]
        assert got == [f"{i:02d}" for i in range(20)], got
        for rid in rids:
            assert b.client.reply(rid)["status"] == "completed"


@pytest.fixture
def two_workers(ircd):
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_IRC_FLOOD_RATE": "0",
            "SOCKETHUB_REQUEST_TIMEOUT": "45",
            "SOCKETHUB_LEASE_SECONDS": FAST_LEASE,
        },
    ).start()
    try:
        s.start_worker("irc", name="worker-irc-2")
        yield s
    finally:
        s.stop()


def test_sends_during_failover_reach_the_channel_after_the_rejoin_in_order(two_workers, ircd):
    s = two_workers
    with joined(s, ircd, "w14", "#held-z", "holder") as (w, b):
        for i in range(12):  # rejoined before #held-z, so that takes a moment
            b.ok("join", target=b.room(f"#held-{i:02d}"))
        s.kill(_owner(s, b).split("@")[0])  # SIGKILL: the lease lapses in its own time
        w.wait_for(lambda ln: ln.startswith(":holder!") and " QUIT " in ln, timeout=10)
        # One line a second across the failover: the first ones wait in the dead node's
        # queue, the later ones (sent once its lease lapsed) reach the survivor first.
        rids = []
        for i in range(20):
            act = activity(
                "irc", "send", actor=b.actor, target=b.room("#held-z"), object=msg(f"held {i:02d}")
            )
            rids.append(b.client.send(act))
            time.sleep(1)
        replies = [b.client.reply(rid, timeout=45) for rid in rids]
        assert [r["status"] for r in replies] == ["completed"] * 20, replies
        rejoin = w.wait_for(lambda ln: ln.startswith(":holder!") and " JOIN " in ln)
        lines = [w.wait_for(lambda ln: "PRIVMSG #held-z" in ln) for _ in rids]
        assert [ln.rsplit(":", 1)[1] for ln in lines] == [f"held {i:02d}" for i in range(20)]
        assert w.lines.index(rejoin) < w.lines.index(lines[0])
        b.close()


def _password_tab(stack: Stack, server, nick: str, **creds) -> Browser:
    b = Browser(stack, server, nick, password="same-secret", **creds)
    b.ok("connect")
    return b


def test_a_room_held_only_by_a_session_that_left_is_not_rejoined(irc_stack, ircd_pw):
    host, port = ircd_pw.host, ircd_pw.port
    with (
        RawIrcClient(host, port, "w15", password="same-secret") as gone,
        RawIrcClient(host, port, "w16", password="same-secret") as kept,
    ):
        for client, channel in ((gone, "#gone"), (kept, "#kept")):
            client.send(f"JOIN {channel}")
            client.wait_for(lambda ln: " 366 " in ln)
        a = _password_tab(irc_stack, ircd_pw, "roomer")
        b = _password_tab(irc_stack, ircd_pw, "roomer")  # the same connection, shared
        a.ok("join", target=a.room("#gone"))
        gone.wait_for(lambda ln: ln.startswith(":roomer!") and " JOIN " in ln)
        b.ok("join", target=b.room("#kept"))
        kept.wait_for(lambda ln: ln.startswith(":roomer!") and " JOIN " in ln)
        a.ok("disconnect")  # b keeps the connection; nobody holds #gone any more
        b.forget()
        kept.send("OPER oper operpass")
        kept.wait_for(lambda ln: " 381 " in ln)
        kept.send("KILL roomer :testing rejoin")
        b.state("reconnecting")
        b.state("connected", timeout=20)
        kept.wait_for(lambda ln: ln.startswith(":roomer!") and " JOIN " in ln, timeout=20)
        time.sleep(1.0)  # "#gone" sorts first: it would have been rejoined by now
        assert [ln for ln in gone.lines if ln.startswith(":roomer!") and " JOIN " in ln] == [
            next(ln for ln in gone.lines if ln.startswith(":roomer!") and " JOIN " in ln)
        ]
        assert not any(
            f.get("kind") == "event"
            and not f.get("_seen")
            and f["activity"]["type"] == "join"
            and f["activity"].get("target", {}).get("name") == "#gone"
            for f in b.client.frames
        )
        b.ok("disconnect")
        a.close()
        b.close()


def test_new_credentials_take_the_session_off_its_old_connection(browser, watcher, ircd):
    w = watcher("w17", "#change")
    b = browser("changer")
    b.ok("join", target=b.room("#change"))
    w.wait_for(lambda ln: ln.startswith(":changer!") and " JOIN " in ln)
    creds = {"type": "credentials", "nick": "changer2", "server": ircd.host, "port": ircd.port}
    b.ok("credentials", object={**creds, "secure": False})
    # its only session now names another connection: the old one is closed
    assert "no session left" in w.wait_for(
        lambda ln: ln.startswith(":changer!") and " QUIT " in ln, timeout=15
    )


def test_failover_rebuilds_the_account_of_the_connection(ircd_pw):
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_IRC_FLOOD_RATE": "0",
            "SOCKETHUB_REQUEST_TIMEOUT": "45",
            "SOCKETHUB_LEASE_SECONDS": FAST_LEASE,
        },
    ).start()
    try:
        s.start_worker("irc", name="worker-irc-2")
        with RawIrcClient(ircd_pw.host, ircd_pw.port, "w18", password="same-secret") as w:
            w.send("JOIN #swap")
            w.wait_for(lambda ln: " 366 " in ln)
            a = _password_tab(s, ircd_pw, "swapper")
            b = _password_tab(s, ircd_pw, "swapper")
            b.ok("join", target=b.room("#swap"))
            w.wait_for(lambda ln: ln.startswith(":swapper!") and " JOIN " in ln)
            owner = _owner(s, b)
            # tab a moves to another account; tab b still uses the old connection
            creds = {"nick": "swapped", "server": ircd_pw.host, "port": ircd_pw.port}
            new = {"type": "credentials", **creds, "secure": False, "password": "same-secret"}
            a.ok("credentials", object=new)
            s.kill(owner.split("@")[0])
            b.state("connected", timeout=40)
            back = w.wait_for(lambda ln: ln.startswith(":swap") and " JOIN " in ln, timeout=30)
            assert back.startswith(":swapper!"), back
            assert not any(ln.startswith(":swapped!") for ln in w.lines)
            a.close()
            b.close()
    finally:
        s.stop()


def test_allow_invalid_cert_is_part_of_the_connection(irc_stack, tmp_path_factory):
    tls = (TLS / "localhost.crt", TLS / "localhost.key")
    server_dir = tmp_path_factory.mktemp("ircd-tls-pw")
    with run_ngircd(server_dir, tls=tls, password="same-secret") as server:
        tls_creds = {"port": server.tls_port, "secure": True}
        lax = _password_tab(irc_stack, server, "certy", allowInvalidCert=True, **tls_creds)
        strict = Browser(irc_stack, server, "certy", password="same-secret", **tls_creds)
        # the same nick and secret, but this tab wants the certificate checked: it must
        # not ride on the connection that skipped the check
        reply = strict.request("connect")
        assert reply["status"] == "failed" and reply["error"]["code"] == "tls-error", reply
        lax.request("disconnect")
        lax.close()
        strict.close()
