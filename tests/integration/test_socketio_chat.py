"""Sockethub's Socket.IO flows for IRC and XMPP, through the real stack, with the real
socket.io-client 4 (``tests/sioclient.py``): a real ngircd and a real Prosody, each
watched by an independent client. Credentials, connect, join, send, incoming messages,
the SDK's reconnect with its replay (one upstream connection throughout, also when the
reconnect lands on another gateway process), and results pushed to the other sessions
of a shared connection; over long-polling alone and over a WebSocket.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from envelopes.context import context_for

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..sioclient import SdkClient, need_node
from ..stack import Stack

pytestmark = pytest.mark.integration

TRANSPORTS = ["polling", "polling,websocket"]


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
