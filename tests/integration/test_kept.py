"""Kept sessions (``hello.keep``) and the ``end`` frame, through the whole stack against a
real ngircd, checked by an independent raw IRC client in the channel.

The resume grace is 2 s here: a session that is not kept loses its IRC connection (QUIT
"no session left") a worker heartbeat after it; a kept one keeps it, records what is said
meanwhile and replays it on resume; ``end`` releases it at once and leaves no key behind.
"""

from __future__ import annotations

import json
import re
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
import websocket

from envelopes import keys

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import IrcServer, run_ngircd
from ..stack import Stack
from ..wsclient import Client, activity
from .test_protocol_schemas import check

pytestmark = pytest.mark.integration

KEEP = 60


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    with run_ngircd(tmp_path_factory.mktemp("ircd-kept")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(ircd: IrcServer) -> Iterator[Stack]:
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_IRC_FLOOD_RATE": "0",
            "SOCKETHUB_RESUME_GRACE": "2",
            "SOCKETHUB_KEEP_MAX": str(KEEP),
            "SOCKETHUB_KEPT_PER_ADDRESS": "2",
            "SOCKETHUB_KEPT_SESSIONS": "3",
        },
    ).start()
    yield s
    s.stop()


def hello(keep: Any = None, resume: dict[str, Any] | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {"kind": "hello"}
    if keep is not None:
        frame["keep"] = keep
    if resume is not None:
        frame["resume"] = resume
    return frame


def from_address(addr: str) -> list[str]:
    return [f"X-Forwarded-For: {addr}"]  # 127.0.0.1 is a trusted proxy by default


def end(c: Client) -> dict[str, Any]:
    """Send ``end``: the ``ended`` frame, with the code of the close frame that follows."""
    c.ws.send(json.dumps({"kind": "end"}))
    ended = c.wait(lambda f: f.get("kind") == "ended")
    c.ws.settimeout(10)
    while True:
        opcode, data = c.ws.recv_data(control_frame=True)
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            ended["closeCode"] = struct.unpack("!H", data[:2])[0]
            return ended


class IrcSession:
    def __init__(self, stack: Stack, ircd: IrcServer, nick: str, keep: Any = None):
        self.nick = nick
        self.actor = {"id": f"{nick}@{ircd.host}", "type": "person", "name": nick}
        self.client = Client(stack.ws_url, hello=hello(keep))
        creds = {"nick": nick, "server": ircd.host, "port": ircd.port, "secure": False}
        self.ok("credentials", object={"type": "credentials", **creds})
        self.ok("connect")
        self.host = ircd.host

    def ok(self, verb: str, **parts: Any) -> dict[str, Any]:
        reply = self.client.request(activity("irc", verb, actor=self.actor, **parts), 25)
        assert reply["status"] == "completed", reply
        return reply

    def room(self, channel: str) -> dict[str, Any]:
        return {"id": f"{channel}@{self.host}", "type": "room", "name": channel}


def said(frames: list[dict[str, Any]], prefix: str) -> list[str]:
    out = []
    for f in frames:
        a = f.get("activity") if f.get("kind") == "event" else None
        if a and a.get("type") == "send" and str(a["object"].get("content", "")).startswith(prefix):
            out.append(a["object"]["content"])
    return out


def session_traces(stack: Stack, sid: str) -> list[str]:
    """Every key that names the session, and every key holding it as a field or member
    (the gateways' wake streams, which only list who had news, aside)."""
    r = stack.redis()
    found = []
    for raw in r.scan_iter(count=1000):
        name = raw.decode()
        if sid in name:
            found.append(name)
            continue
        kind = r.type(raw).decode()
        if kind == "hash" and r.hexists(raw, sid):
            found.append(f"{name} (field)")
        elif kind == "zset" and r.zscore(raw, sid) is not None:
            found.append(f"{name} (member)")
        elif kind == "set" and any(sid in m.decode("latin-1") for m in r.smembers(raw)):
            found.append(f"{name} (member)")
    return found


def test_the_caps_refuse_keeping_and_the_session_still_works(stack: Stack) -> None:
    a1 = Client(stack.ws_url, hello=hello(True))
    assert a1.welcome["keep"] == KEEP and a1.welcome["limits"]["keepMax"] == KEEP
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", a1.welcome["keepUntil"])
    a2 = Client(stack.ws_url, hello=hello(30))
    assert a2.welcome["keep"] == 30
    a3 = Client(stack.ws_url, hello=hello(KEEP))  # a third from 127.0.0.1: over the cap
    assert "keep" not in a3.welcome and "keepUntil" not in a3.welcome
    refused = a3.welcome["keepRefused"]
    assert refused["code"] == "keep-refused" and "SOCKETHUB_KEPT_PER_ADDRESS" in refused["message"]
    check("client-hello.json", hello(True))
    check("server-welcome.json", a1.welcome)
    check("server-welcome.json", a3.welcome)
    a3.ws.send(json.dumps({"kind": "ping"}))
    assert a3.wait(lambda f: f.get("kind") == "pong")  # the session works, not kept
    b1 = Client(stack.ws_url, hello=hello(KEEP), header=from_address("203.0.113.9"))
    assert b1.welcome["keep"] == KEEP  # the third kept session of the deployment
    b2 = Client(stack.ws_url, hello=hello(KEEP), header=from_address("203.0.113.10"))
    refused = b2.welcome["keepRefused"]
    assert refused["code"] == "keep-refused" and "SOCKETHUB_KEPT_SESSIONS" in refused["message"]
    # A resume may stop the keep (false), which frees its place; without keep it stays.
    info = a2.resume_info
    a2.close()
    a2 = Client(stack.ws_url, hello=hello(False, resume=info))
    assert a2.welcome["resumed"] and "keep" not in a2.welcome
    b2.close()
    b2 = Client(stack.ws_url, hello=hello(KEEP), header=from_address("203.0.113.10"))
    assert b2.welcome["keep"] == KEEP
    info = a1.resume_info
    a1.close()
    a1 = Client(stack.ws_url, hello=hello(resume=info))
    assert a1.welcome["resumed"] and a1.welcome["keep"] == KEEP
    check("client-end.json", {"kind": "end"})
    for c in (a1, a2, a3, b1, b2):
        ended = end(c)
        assert ended.pop("closeCode") == 1000
        check("server-ended.json", ended)
    assert not stack.redis().zcard(keys.kept())


def test_a_kept_session_keeps_its_irc_connection_and_replays_what_it_missed(
    stack: Stack, ircd: IrcServer
) -> None:
    with RawIrcClient(ircd.host, ircd.port, "witness") as witness:
        witness.send("JOIN #kept")
        witness.wait_for(lambda ln: " 366 " in ln)
        kept = IrcSession(stack, ircd, "keeper", keep=KEEP)
        lapsed = IrcSession(stack, ircd, "lapser")  # as today: no keep
        assert kept.client.welcome["keep"] == KEEP and "keep" not in lapsed.client.welcome
        for s in (kept, lapsed):
            s.ok("join", target=s.room("#kept"))
            witness.wait_for(lambda ln, n=s.nick: ln.startswith(f":{n}!") and " JOIN " in ln)
        sid, info = kept.client.welcome["session"], kept.client.resume_info
        seen_before = len(witness.lines)
        kept.client.close()
        lapsed.client.close()

        for i in range(50):
            witness.send(f"PRIVMSG #kept :while away {i}")
        # Past the 2 s grace the worker's janitor closes the connection nobody kept...
        quit_line = witness.wait_for(
            lambda ln: ln.startswith(":lapser!") and " QUIT " in ln, timeout=30
        )
        assert "no session left" in quit_line
        # ...in the same pass that would have closed the kept one: its keys still live.
        assert stack.redis().ttl(keys.session(sid)) > KEEP - 30
        assert stack.redis().ttl(keys.session_creds(sid)) > KEEP - 30

        back = Client(stack.ws_url, hello=hello(KEEP, resume=info))
        assert back.welcome["resumed"] is True and "missed" not in back.welcome
        back.wait(lambda f: "while away 49" in json.dumps(f), timeout=20)
        assert said(back.frames, "while away") == [f"while away {i}" for i in range(50)]
        kept.client = back
        kept.ok("send", target=kept.room("#kept"), object={"type": "message", "content": "back"})
        line = witness.wait_for(lambda ln: ln.endswith(" :back"))
        assert line.startswith(":keeper!")  # the same connection, the same nick
        after = witness.lines[seen_before:]
        assert not [
            ln for ln in after if ln.startswith(":keeper") and (" QUIT" in ln or " JOIN " in ln)
        ], after

        # ``end``: the connection is released, every key of the session goes, and so does
        # the session: its token resumes nothing.
        info = back.resume_info
        ended = end(back)
        assert ended["session"] == sid and ended["closeCode"] == 1000
        witness.wait_for(lambda ln: ln.startswith(":keeper!") and " QUIT" in ln, timeout=20)
        deadline = time.monotonic() + 10
        while (traces := session_traces(stack, sid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert traces == []
        again = Client(stack.ws_url, hello=hello(resume=info))
        assert again.welcome["resumed"] is False
        assert again.welcome["resumeError"]["code"] == "session-expired"
        again.close()
