"""The IRC side of the fleet tests: a browser session joined to a channel through the
fleet, the independent client in that channel (what the network sees), and a chatter
that says numbered lines there so the browser's events can be counted."""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.fleetnet import Fleet
from envelopes import keys
from tests.fleet.sessions import FleetSession
from tests.servers.ircclient import RawIrcClient
from tests.wsclient import activity

__all__ = ["Chatter", "irc_session", "owner", "presence", "watcher"]


def irc_session(fleet: Fleet, url: str, nick: str, channel: str, **kw: Any) -> FleetSession:
    """A session (through ``url``) whose IRC connection ``nick`` is in ``channel``."""
    host, port = fleet.irc_server
    s = FleetSession(url, **kw)
    s.sending = False  # no echoes: its requests are the IRC verbs the test asks
    s.actor = {"id": f"{nick}@{host}", "type": "person", "name": nick}  # type: ignore[attr-defined]
    creds = {"type": "credentials", "nick": nick, "server": host, "port": port, "secure": False}
    for verb, parts in (
        ("credentials", {"object": creds}),
        ("connect", {}),
        ("join", {"target": room(fleet, channel)}),
    ):
        reply = s.client.request(activity("irc", verb, actor=s.actor, **parts), 45)  # type: ignore[attr-defined]
        assert reply["status"] == "completed", reply
    return s


def room(fleet: Fleet, channel: str) -> dict[str, Any]:
    return {"id": f"{channel}@{fleet.irc_server[0]}", "type": "room", "name": channel}


def say(fleet: Fleet, s: FleetSession, channel: str, text: str) -> str:
    """Queue a ``send`` of ``text`` to ``channel``; its request id."""
    msg = {"type": "message", "content": text}
    act = activity("irc", "send", actor=s.actor, target=room(fleet, channel), object=msg)  # type: ignore[attr-defined]
    return s.ask(act)


def watcher(fleet: Fleet, nick: str, channel: str) -> RawIrcClient:
    host, port = fleet.irc_server
    w = RawIrcClient(host, port, nick)
    w.send(f"JOIN {channel}")
    w.wait_for(lambda ln: " 366 " in ln)
    return w


def owner(fleet: Fleet, s: FleetSession) -> str:
    """The worker node holding the session's IRC connection's lease (node1, ...)."""
    r = fleet.redis()
    field = keys.connection_key_field("irc", s.actor["id"])  # type: ignore[attr-defined]
    ckey = r.hget(keys.session_creds(s.sid), field)
    assert ckey is not None
    lease = r.get(keys.lease("irc", ckey.decode()))
    assert lease is not None, "no lease"
    return str(lease.decode()).split("@")[0]


def presence(w: RawIrcClient, nick: str) -> list[tuple[str, float]]:
    """Each JOIN and QUIT of ``nick`` the watcher saw, with when: ("JOIN", t), ..."""
    out = []
    for line, at in zip(list(w.lines), list(w.times), strict=False):
        if line.startswith(f":{nick}!"):
            verb = line.split(" ")[1]
            if verb in ("JOIN", "QUIT", "PART"):
                out.append((verb, at))
    return out


class Chatter(threading.Thread):
    """The watcher says ``ev<i>`` in the channel every ``pace`` seconds until stopped."""

    def __init__(self, w: RawIrcClient, channel: str, pace: float = 0.2):
        super().__init__(daemon=True)
        self.w, self.channel, self.pace = w, channel, pace
        self.sent: list[tuple[str, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        i = 0
        while not self.halt.is_set():
            text = f"ev{i}"
            self.sent.append((text, time.monotonic()))
            self.w.send(f"PRIVMSG {self.channel} :{text}")
            i += 1
            self.halt.wait(self.pace)
