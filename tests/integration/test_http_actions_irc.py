"""A persistent platform over HTTP actions: one POST posts a line to an IRC channel.

The call is its own session (Sockethub's rule), so credentials, ``connect``, ``join`` and
``send`` come in one body; its lines come in that order; when the answer is written the
session ends and the worker closes the connection no other session holds. A real ngircd,
watched by an independent raw-socket IRC client.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from envelopes.context import context_for

from ..httpclient import post
from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: Any) -> Iterator[Any]:
    with run_ngircd(tmp_path_factory.mktemp("ircd")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(ircd: Any) -> Iterator[Stack]:
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_HTTP_ACTIONS": "true",
            "SOCKETHUB_IRC_FLOOD_RATE": "0",
            "SOCKETHUB_REQUEST_TIMEOUT": "20",
        },
    ).start()
    yield s
    s.stop()


def irc(verb: str, nick: str, ircd: Any, **parts: Any) -> dict[str, Any]:
    return {
        "@context": context_for("irc"),
        "type": verb,
        "actor": {"id": f"{nick}@{ircd.host}", "type": "person", "name": nick},
        **parts,
    }


def test_one_post_sends_a_line_to_a_channel_then_the_connection_closes(
    stack: Stack, ircd: Any
) -> None:
    nick = f"h{secrets.token_hex(3)}"
    channel = f"#{nick}"
    room = {"id": f"{channel}@{ircd.host}", "type": "room", "name": channel}
    creds = {"type": "credentials", "nick": nick, "server": ircd.host, "port": ircd.port}
    body = [
        irc("credentials", nick, ircd, object={**creds, "secure": False}),
        irc("connect", nick, ircd),
        irc("join", nick, ircd, target=room),
        irc("send", nick, ircd, target=room, object={"type": "message", "content": "from curl"}),
    ]
    with RawIrcClient(ircd.host, ircd.port, f"{nick}-watch") as watcher:
        watcher.send(f"JOIN {channel}")
        watcher.wait_for(lambda line: " 366 " in line)
        answer = post(f"{stack.url}/sockethub-http", body, f"irc-{nick}")
        assert answer.status == 200, answer
        ack, connected, joined, sent = answer.lines
        assert ack["type"] == "credentials-ack" and "error" not in ack, ack
        assert str(ircd.port) not in answer.text.split("\n")[0]  # no credentials echoed
        for line in (connected, joined, sent):
            assert "error" not in line and line["@context"] == context_for("irc"), line
        assert [connected["type"], joined["type"], sent["type"]] == ["connect", "join", "send"]
        watcher.wait_for(f"PRIVMSG {channel} :from curl")
        # The call's session has ended: its worker lets the connection go (QUIT).
        watcher.wait_for(lambda line: line.startswith(f":{nick}!") and " QUIT" in line, 30)
