"""Sockethub's Socket.IO flows through the real stack, with the real socket.io-client 4.

Node runs the client (``tests/js/sio-driver.js``); ``SdkClient`` adds what Sockethub's
SDK does on every (re)connect: the ``schemas`` handshake and the replay of credentials,
connect and join without acks. Every flow runs over long-polling alone and over a
WebSocket (the client's default: polling, then the upgrade).
"""

from __future__ import annotations

import signal
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from envelopes.context import context_for
from envelopes.jsonschema.payload import registry_payload
from envelopes.registry import default_registry

from ..connectors.fixtureserver import FixtureServer
from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..sioclient import SdkClient, SioClient, need_node
from ..stack import Stack

pytestmark = pytest.mark.integration

TRANSPORTS = ["polling", "polling,websocket"]
TIMEOUT = 6  # the request timeout of this stack: the worker-death test waits for it


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    need_node()
    s = Stack(
        platforms=("dummy", "feeds", "metadata"),
        env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": str(TIMEOUT), "SOCKETHUB_FETCH_TIMEOUT": "3"},
    ).start()
    s.start_gateway()  # a second process: every Socket.IO session stays on its own
    yield s
    s.stop()


@pytest.fixture(params=TRANSPORTS)
def sdk(request: Any, stack: Stack) -> Iterator[SdkClient]:
    c = SdkClient(stack.url, request.param)
    yield c
    c.close()


def dummy(verb: str, content: str = "hi", **extra: Any) -> dict[str, Any]:
    return {
        "@context": context_for("dummy"),
        "type": verb,
        "actor": {"id": "me@dummy", "type": "person"},
        "object": {"type": "message", "content": content},
        **extra,
    }


def test_schemas_handshake_fresh_then_with_a_matching_fingerprint(stack: Stack) -> None:
    c = SioClient(stack.url, "polling")
    try:
        fresh = c.emit("schemas", None)  # the SDK's first request: ``420["schemas",null]``
        assert len(fresh["fingerprint"]) == 16 and int(fresh["fingerprint"], 16) >= 0
        assert isinstance(fresh["contexts"]["as"], str) and isinstance(fresh["platforms"], list)
        ids = [p["id"] for p in fresh["platforms"]]
        assert ids == ["dummy", "feeds", "metadata"]
        expected = registry_payload(default_registry().only(("dummy", "feeds", "metadata")))
        assert fresh == expected  # the payload envelopes/jsonschema builds, unchanged
        same = c.emit("schemas", fresh["fingerprint"])
        assert same == {"fingerprint": fresh["fingerprint"], "unchanged": True}
        stale = c.emit("schemas", "0000000000000000")
        assert stale["fingerprint"] == fresh["fingerprint"] and "platforms" in stale
        # no ack asked: the same answer comes as a ``schemas`` event
        c.emit_nowait("schemas", fresh["fingerprint"], ack=False)
        assert c.event("schemas") == same
    finally:
        c.close()


def test_dummy_echo_greet_fail_throw(sdk: SdkClient) -> None:
    echo = sdk.send("message", dummy("echo", "hello"))
    assert echo["@context"] == context_for("dummy")
    assert echo["actor"] == {"id": "dummy", "type": "platform"}
    assert echo["target"]["id"] == "me@dummy" and echo["object"]["content"] == "hello"
    assert "error" not in echo
    greet = sdk.send("message", dummy("greet", "you"))
    assert greet["object"]["content"] == "Hello you"
    fail = sdk.send("message", dummy("fail", "boom"))
    assert fail["error"] == "boom" and fail["type"] == "fail"  # the request, plus ``error``
    assert fail["actor"]["id"] == "me@dummy" and fail["@context"] == context_for("dummy")
    throw = sdk.send("message", dummy("throw", "secret detail"))
    assert throw["error"].startswith("internal error (ref ") and "secret" not in throw["error"]


def test_an_invalid_activity_is_acked_with_error(sdk: SdkClient) -> None:
    bad = sdk.send("message", dummy("nope"))
    assert "not supported by dummy platform" in bad["error"] and bad["type"] == "nope"
    extra = sdk.send("message", {**dummy("echo"), "surprise": 1})
    assert "surprise" in extra["error"]
    no_ctx = sdk.send("message", {"type": "echo", "actor": {"id": "x", "type": "person"}})
    assert no_ctx["error"] == "activity stream must contain an @context array."
    not_creds = sdk.send("credentials", dummy("echo"))
    assert not_creds["error"] == "credential activity streams must have credentials set as type"


def test_credentials_are_acked_without_their_secrets(sdk: SdkClient) -> None:
    creds = {
        "@context": context_for("dummy"),
        "type": "credentials",
        "actor": {"id": "me@dummy", "type": "person"},
        "object": {"type": "credentials", "password": "hunter2"},
    }
    ack = sdk.send("credentials", creds)
    assert ack["type"] == "credentials" and "error" not in ack
    assert ack["object"] == {"type": "credentials"} and "hunter2" not in str(ack)


def test_feeds_and_metadata_fetch(sdk: SdkClient, web: FixtureServer) -> None:
    url = web.url("/feeds/atom.xml")
    result = sdk.send(
        "message",
        {"@context": context_for("feeds"), "type": "fetch", "actor": {"id": url, "type": "feed"}},
        timeout=40,
    )
    assert result["type"] == "collection" and result["@context"] == context_for("feeds")
    assert result["summary"] == "Tide Tables & Other Stories" and result["totalItems"] > 0
    page = web.url("/pages/opengraph.html")
    meta = sdk.send(
        "message",
        {
            "@context": context_for("metadata"),
            "type": "fetch",
            "actor": {"id": page, "type": "website"},
        },
        timeout=40,
    )
    assert meta["@context"] == context_for("metadata") and meta["object"]["type"] == "page"
    missing = sdk.send(
        "message",
        {
            "@context": context_for("feeds"),
            "type": "fetch",
            "actor": {"id": web.url("/nothing-here.xml"), "type": "feed"},
        },
        timeout=40,
    )
    assert "nothing-here.xml" in missing["error"]


def test_two_gateway_processes_each_hold_their_own_sessions(stack: Stack) -> None:
    clients = [
        SdkClient(f"http://127.0.0.1:{port}", "polling,websocket") for port in stack.gateways
    ]
    try:
        for i, c in enumerate(clients):
            assert c.send("message", dummy("echo", f"via {i}"))["object"]["content"] == f"via {i}"
    finally:
        for c in clients:
            c.close()


def test_the_rate_limit_error_event_in_sockethubs_shape() -> None:
    s = Stack(env_overrides={"SOCKETHUB_RATE_LIMIT": "2", "SOCKETHUB_RATE_BURST": "4"}).start()
    try:
        c = SioClient(s.url, "websocket")
        ns = [c.emit_nowait("message", dummy("echo", f"n{i}")) for i in range(10)]
        err = c.event("error")
        assert err == {
            "type": "Error",
            "@context": [
                "https://www.w3.org/ns/activitystreams",
                "https://sockethub.org/ns/context/v1.jsonld",
                "https://sockethub.org/ns/context/platform/error/v1.jsonld",
            ],
            "actor": {"type": "Application", "name": "sockethub-server"},
            "summary": "rate limit exceeded, temporarily blocked",
        }
        first = c.ack_of(ns[0])
        assert first["object"]["content"] == "n0"
        limited = [a for a in (c.ack_of(n, 10) for n in ns[4:6])]
        assert all("requests per second" in a["error"] for a in limited), limited
        assert len(c.events("error")) == 1  # once per block, as Sockethub sends it
        c.close()
    finally:
        s.stop()


def test_the_per_address_cap_error_event_then_disconnect() -> None:
    s = Stack(env_overrides={"SOCKETHUB_MAX_SOCKETS_PER_ADDRESS": "1"}).start()
    try:
        first = SioClient(s.url, "websocket")
        second = SioClient(s.url, "websocket")
        err = second.event("error")
        assert err["summary"] == "too many concurrent connections from this address"
        gone = second.wait(lambda m: m["type"] == "disconnect")
        assert gone["reason"] == "io server disconnect"  # socket.io-client does not retry
        assert first.emit("message", dummy("echo"))["object"]["content"] == "hi"
        first.close()
        second.close()
    finally:
        s.stop()


def test_a_request_whose_worker_dies_gets_one_timeout_ack(stack: Stack) -> None:
    c = SioClient(stack.url, "websocket")
    try:
        assert c.emit("message", dummy("echo"))["object"]["content"] == "hi"
        stack.kill("worker-dummy")
        started = time.monotonic()
        n = c.emit_nowait("message", dummy("echo", "into the void"))
        ack = c.ack_of(n, TIMEOUT + 20)
        assert "no reply from the platform's workers within the deadline" in ack["error"], ack
        assert ack["object"]["content"] == "into the void"
        assert time.monotonic() - started >= TIMEOUT - 1
        time.sleep(1.0)
        assert sum(1 for m in c.seen if m["type"] == "ack" and m["id"] == n) == 1
    finally:
        c.close()
        stack.start_worker("dummy")


# -- IRC, against a real ngircd, watched by an independent IRC client ----------------------


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: Any) -> Iterator[Any]:
    with run_ngircd(tmp_path_factory.mktemp("ircd")) as server:
        yield server


@pytest.fixture(scope="module")
def irc_stack(ircd: Any) -> Iterator[Stack]:
    need_node()
    s = Stack(
        platforms=("irc",),
        env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_REQUEST_TIMEOUT": "20"},
    ).start()
    s.start_gateway()  # a reconnect may land on another process (a balancer's choice)
    yield s
    s.stop()


def irc(verb: str, nick: str, ircd: Any, **parts: Any) -> dict[str, Any]:
    return {
        "@context": context_for("irc"),
        "type": verb,
        "actor": {"id": f"{nick}@{ircd.host}", "type": "person", "name": nick},
        **parts,
    }


def irc_credentials(nick: str, ircd: Any) -> dict[str, Any]:
    obj = {"type": "credentials", "nick": nick, "server": ircd.host, "port": ircd.port}
    return irc("credentials", nick, ircd, object={**obj, "secure": False})


def room(channel: str, ircd: Any) -> dict[str, Any]:
    return {"id": f"{channel}@{ircd.host}", "type": "room", "name": channel}


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_irc_send_receive_and_a_reconnect_that_replays(
    irc_stack: Stack, ircd: Any, transports: str
) -> None:
    nick = "sio" + ("p" if transports == "polling" else "w")
    channel = f"#{nick}"
    with RawIrcClient(ircd.host, ircd.port, f"{nick}-watch") as watcher:
        watcher.send(f"JOIN {channel}")
        watcher.wait_for(lambda line: " 366 " in line)
        c = SdkClient(irc_stack.url, transports)
        try:
            creds = c.send("credentials", irc_credentials(nick, ircd))
            assert "error" not in creds and "port" not in creds["object"]
            connected = c.send("message", irc("connect", nick, ircd))
            assert "error" not in connected, connected
            assert connected["@context"] == context_for("irc")
            joined = c.send("message", irc("join", nick, ircd, target=room(channel, ircd)))
            assert "error" not in joined, joined
            watcher.wait_for(lambda line: line.startswith(f":{nick}!") and " JOIN " in line)
            sent = c.send(
                "message",
                irc(
                    "send",
                    nick,
                    ircd,
                    target=room(channel, ircd),
                    object={"type": "message", "content": "hello from socket.io"},
                ),
            )
            assert "error" not in sent, sent
            watcher.wait_for(f"PRIVMSG {channel} :hello from socket.io")
            watcher.send(f"PRIVMSG {channel} :hello back")
            pushed = c.event(
                "message", lambda a: (a.get("object") or {}).get("content") == "hello back"
            )
            assert pushed["@context"] == context_for("irc") and pushed["type"] == "send"
            assert pushed["actor"]["name"] == f"{nick}-watch"

            # The network drops: socket.io-client reconnects (a new Socket.IO id), the SDK
            # handshakes with its fingerprint and replays credentials, connect and join
            # without acks. The same IRC connection carries on: no second JOIN, no nick_.
            before = c.connected["id"]
            mark = len(c.seen)
            c.drop()
            again = c.wait(lambda m: m["type"] == "connect", 20, after=mark)
            assert again["id"] != before
            deadline = time.monotonic() + 20
            while c.replays < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert c.replays == 1
            time.sleep(1.5)  # the replayed connect and join have run
            watcher.send(f"PRIVMSG {channel} :after the reconnect")
            late = c.event(
                "message", lambda a: (a.get("object") or {}).get("content") == "after the reconnect"
            )
            assert late["actor"]["name"] == f"{nick}-watch"
            resent = c.send(
                "message",
                irc(
                    "send",
                    nick,
                    ircd,
                    target=room(channel, ircd),
                    object={"type": "message", "content": "still me"},
                ),
            )
            assert "error" not in resent, resent
            line = watcher.wait_for(f"PRIVMSG {channel} :still me")
            assert line.startswith(f":{nick}!"), line
            joins = [ln for ln in watcher.lines if ln.startswith(f":{nick}!") and " JOIN " in ln]
            assert len(joins) == 1, joins  # one IRC connection, never a second one
            assert not any(ln.startswith(f":{nick}_") for ln in watcher.lines)
        finally:
            c.close()


# -- XMPP, against a real Prosody, watched by an independent XMPP client -------------------


@pytest.fixture(scope="module")
def prosody(tmp_path_factory: Any) -> Iterator[XmppServer]:
    with run_prosody(tmp_path_factory.mktemp("prosody"), users=("alice", "bob")) as server:
        yield server


@pytest.fixture(scope="module")
def xmpp_stack(prosody: XmppServer) -> Iterator[Stack]:
    need_node()
    s = Stack(
        platforms=("xmpp",),
        env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "20", "SSL_CERT_FILE": str(prosody.ca_file)},
    ).start()
    yield s
    s.stop()


def xmpp(verb: str, server: XmppServer, **parts: Any) -> dict[str, Any]:
    actor = {"id": server.jid("alice"), "type": "person", "name": "Alice"}
    return {"@context": context_for("xmpp"), "type": verb, "actor": actor, **parts}


@pytest.mark.parametrize("transports", TRANSPORTS)
def test_xmpp_room_chat_and_a_reconnect_that_replays(
    xmpp_stack: Stack, prosody: XmppServer, transports: str
) -> None:
    name = "sio" + ("p" if transports == "polling" else "w")
    room_jid = prosody.room(name)
    room_target = {"id": room_jid, "type": "room", "name": name}
    bob = PlainClient(prosody, "bob", name)
    c = SdkClient(xmpp_stack.url, transports)
    try:
        bob.join(room_jid, "bob")
        creds = {
            "type": "credentials",
            "userAddress": prosody.jid("alice"),
            "resource": name,
            "password": prosody.password("alice"),
            "server": prosody.host,
            "port": prosody.port,
        }
        ack = c.send("credentials", xmpp("credentials", prosody, object=creds))
        assert "error" not in ack and "password" not in ack["object"]
        assert "error" not in c.send("message", xmpp("connect", prosody), timeout=30)
        joined = c.send("message", xmpp("join", prosody, target=room_target), timeout=30)
        assert "error" not in joined, joined
        bob.wait_for(lambda s: s.name == "presence" and str(s["from"]) == f"{room_jid}/Alice")
        hello = {"type": "message", "content": "hello from socket.io"}
        sent = c.send("message", xmpp("send", prosody, target=room_target, object=hello))
        assert "error" not in sent, sent
        bob.wait_body("hello from socket.io")
        bob.send_message(room_jid, "hello alice", mtype="groupchat")
        pushed = c.event(
            "message", lambda a: (a.get("object") or {}).get("content") == "hello alice"
        )
        assert pushed["@context"] == context_for("xmpp") and pushed["type"] == "send"

        bob.forget()
        mark = len(c.seen)
        c.drop()
        c.wait(lambda m: m["type"] == "connect", 20, after=mark)
        deadline = time.monotonic() + 20
        while c.replays < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert c.replays == 1
        time.sleep(1.5)  # the replayed connect and join have run
        bob.send_message(room_jid, "after the reconnect", mtype="groupchat")
        c.event(
            "message", lambda a: (a.get("object") or {}).get("content") == "after the reconnect"
        )
        again = {"type": "message", "content": "still alice"}
        assert "error" not in c.send(
            "message", xmpp("send", prosody, target=room_target, object=again)
        )
        bob.wait_body("still alice")
        # One XMPP connection throughout: Alice never left the room and came back.
        with pytest.raises(TimeoutError):
            bob.wait_for(
                lambda s: s.name == "presence" and str(s["from"]) == f"{room_jid}/Alice", 1.0
            )
    finally:
        c.close()
        bob.close()


@pytest.fixture(scope="module")
def ircd_pw(tmp_path_factory: Any) -> Iterator[Any]:
    with run_ngircd(tmp_path_factory.mktemp("ircd-pw"), password="shared-secret") as server:
        yield server


def test_results_reach_the_other_sessions_of_a_shared_connection(
    irc_stack: Stack, ircd_pw: Any
) -> None:
    """Two tabs with the same secret share one IRC connection (as in Sockethub): what one
    sends is pushed to the other as a ``message``, and not twice to the sender."""
    nick, channel = "twotabs", "#twotabs"
    creds = irc_credentials(nick, ircd_pw)
    creds["object"]["password"] = "shared-secret"
    with RawIrcClient(ircd_pw.host, ircd_pw.port, "tabwatch", password="shared-secret") as w:
        w.send(f"JOIN {channel}")
        w.wait_for(lambda line: " 366 " in line)
        tabs = [SdkClient(irc_stack.url, "polling,websocket") for _ in range(2)]
        try:
            for tab in tabs:
                assert "error" not in tab.send("credentials", creds)
                assert "error" not in tab.send("message", irc("connect", nick, ircd_pw))
                joined = tab.send(
                    "message", irc("join", nick, ircd_pw, target=room(channel, ircd_pw))
                )
                assert "error" not in joined, joined
            a, b = tabs
            text = {"type": "message", "content": "from tab a"}
            sent = a.send(
                "message", irc("send", nick, ircd_pw, target=room(channel, ircd_pw), object=text)
            )
            assert "error" not in sent, sent
            w.wait_for(f"PRIVMSG {channel} :from tab a")
            pushed = b.event(
                "message", lambda x: (x.get("object") or {}).get("content") == "from tab a"
            )
            assert pushed["type"] == "send" and pushed["@context"] == context_for("irc")
            assert pushed["actor"]["id"] == f"{nick}@{ircd_pw.host}"
            time.sleep(0.5)
            mine = [
                m
                for m in a.events("message")
                if (m.get("object") or {}).get("content") == "from tab a"
            ]
            assert mine == []  # the sender has its ack, not a push as well
            assert sum(1 for ln in w.lines if ln.startswith(f":{nick}!") and " JOIN " in ln) == 1
        finally:
            for tab in tabs:
                tab.close()


def test_a_gateway_shutting_down_drops_the_transport_so_clients_reconnect(stack: Stack) -> None:
    port = stack.start_gateway()
    name = f"web{len(stack.gateways) - 1}"
    c = SioClient(f"http://127.0.0.1:{port}", "polling,websocket")
    try:
        assert c.emit("message", dummy("echo"))["object"]["content"] == "hi"
        stack.kill(name, signal.SIGTERM)
        gone = c.wait(lambda m: m["type"] == "disconnect", 20)
        # Not "io server disconnect", after which socket.io-client would never come back.
        assert gone["reason"] == "transport close", gone
        c.wait(lambda m: m["type"] == "connect_error", 20)  # it tries: the process is gone
    finally:
        c.close()
        stack.gateways.remove(port)


def test_origins_follow_our_policy(stack: Stack) -> None:
    """Polling (CORS) and the WebSocket upgrade: the gateway's own host, or
    ``SOCKETHUB_ALLOWED_ORIGINS``; a client without ``Origin`` is let through."""
    url = f"{stack.url}/sockethub/?EIO=4&transport=polling"

    def status(origin: str | None) -> int:
        req = urllib.request.Request(url, headers={"Origin": origin} if origin else {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    assert status(None) == 200
    assert status(stack.url) == 200  # the gateway's own host
    assert status("https://elsewhere.example") == 400


def test_payload_limits_and_unicode(sdk: SdkClient) -> None:
    big = sdk.send("message", dummy("echo", "x" * 100_000))  # over 64 KiB, under 256 KiB
    assert "over the limit of 65536 bytes" in big["error"], big["error"][:200]
    lone = sdk.send("message", dummy("echo", "\ud800"))
    assert "lone UTF-16 surrogate" in lone["error"]
    # Over SOCKETHUB_SIO_MAX_PAYLOAD_BYTES: the transport closes, no ack, and the client
    # reconnects on its own (Sockethub's behaviour).
    mark = len(sdk.seen)
    sdk.emit_nowait("message", dummy("echo", "y" * 300_000))
    sdk.wait(lambda m: m["type"] == "disconnect", 20, after=mark)
    sdk.wait(lambda m: m["type"] == "connect", 20, after=mark)
    assert sdk.send("message", dummy("echo", "back"))["object"]["content"] == "back"


def test_irc_a_reconnect_to_another_gateway_process_keeps_the_connection(
    irc_stack: Stack, ircd: Any
) -> None:
    """The client's next socket lands on the other gateway process: its SDK-style replay
    still finds the IRC connection the first socket opened (all of it is in Redis)."""
    nick, channel = "hopper", "#hopper"
    with RawIrcClient(ircd.host, ircd.port, "hopwatch") as watcher:
        watcher.send(f"JOIN {channel}")
        watcher.wait_for(lambda line: " 366 " in line)
        first = SdkClient(f"http://127.0.0.1:{irc_stack.gateways[0]}", "polling,websocket")
        assert "error" not in first.send("credentials", irc_credentials(nick, ircd))
        assert "error" not in first.send("message", irc("connect", nick, ircd))
        target = room(channel, ircd)
        assert "error" not in first.send("message", irc("join", nick, ircd, target=target))
        watcher.wait_for(lambda line: line.startswith(f":{nick}!") and " JOIN " in line)
        stored = first.stored
        first.close()
        second = SdkClient(f"http://127.0.0.1:{irc_stack.gateways[1]}", "websocket")
        try:
            for kind in ("credentials", "connect", "join"):  # the SDK's replay, no acks
                for act in stored[kind].values():
                    event = "credentials" if kind == "credentials" else "message"
                    second.emit_nowait(event, act, ack=False)
            time.sleep(1.5)
            watcher.send(f"PRIVMSG {channel} :to the second process")
            second.event(
                "message",
                lambda a: (a.get("object") or {}).get("content") == "to the second process",
            )
            said = {"type": "message", "content": "from the second process"}
            sent = second.send("message", irc("send", nick, ircd, target=target, object=said))
            assert "error" not in sent, sent
            line = watcher.wait_for(f"PRIVMSG {channel} :from the second process")
            assert line.startswith(f":{nick}!"), line
            joins = [ln for ln in watcher.lines if ln.startswith(f":{nick}") and " JOIN " in ln]
            assert len(joins) == 1, joins  # one IRC connection, never a second one
        finally:
            second.close()


def test_socketio_requests_count_in_the_same_metrics(stack: Stack) -> None:
    from .test_metrics import scrape

    before = scrape(stack)
    c = SioClient(stack.url, "websocket")
    try:
        assert c.emit("message", dummy("echo"))["object"]["content"] == "hi"
        assert "error" in c.emit("message", dummy("dance"))
        after = scrape(stack)
        key = 'sockethub_requests_total{platform="dummy",verb="echo"}'
        assert after[key] == before.get(key, 0) + 1
        refused = 'sockethub_refusals_total{code="unknown-verb"}'
        assert after[refused] == before.get(refused, 0) + 1
        started = "sockethub_sessions_started_total"
        assert after[started] >= before.get(started, 0) + 1
        assert after["sockethub_sessions"] >= 1
    finally:
        c.close()
