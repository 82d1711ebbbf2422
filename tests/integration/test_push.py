"""Web Push and read markers through the whole stack: real ngircd, an independent IRC
client, and a push service stand-in (tests/servers/pushservice.py) that decrypts every
payload with the subscription's own keys and checks the VAPID signature."""

from __future__ import annotations

import json
import time

import pytest

from connectors.net.webpush import new_vapid_pair
from envelopes import keys

from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..servers.pushservice import PushService
from ..session import Browser as BaseBrowser
from ..stack import Stack
from ..wsclient import Client
from .test_protocol_schemas import check

pytestmark = pytest.mark.integration

WINDOW = 1.5  # SOCKETHUB_PUSH_COALESCE here
PASSWORD = "push-secret"  # sessions with the same secret share one IRC connection


@pytest.fixture(scope="module")
def ircd(tmp_path_factory):
    with run_ngircd(tmp_path_factory.mktemp("ircd-push"), password=PASSWORD) as server:
        yield server


@pytest.fixture(scope="module")
def vapid():
    return new_vapid_pair()


@pytest.fixture(scope="module")
def service(tmp_path_factory, vapid):
    with PushService(tmp_path_factory.mktemp("pushservice"), vapid[1]) as s:
        yield s


@pytest.fixture(scope="module")
def stack(ircd, service, vapid):
    s = Stack(
        platforms=("irc",),
        env_overrides={
            "SOCKETHUB_IRC_FLOOD_RATE": "0",
            "SOCKETHUB_REQUEST_TIMEOUT": "20",
            "SOCKETHUB_RESUME_GRACE": "120",
            "SOCKETHUB_VAPID_PRIVATE_KEY": vapid[0],
            "SOCKETHUB_VAPID_SUBJECT": "mailto:ops@example.org",
            "SOCKETHUB_PUSH_COALESCE": str(WINDOW),
            "SOCKETHUB_PUSH_PREVIEW_CHARS": "24",
            "SSL_CERT_FILE": str(service.ca_file),  # the worker trusts the stand-in
        },
    ).start()
    yield s
    s.stop()


class Browser(BaseBrowser):
    platform = "irc"

    def __init__(self, stack: Stack, ircd, nick: str):
        self.stack, self.nick, self.server = stack, nick, ircd.host
        actor = {"id": f"{nick}@{ircd.host}", "type": "person", "name": nick}
        creds = {"nick": nick, "server": ircd.host, "port": ircd.port, "secure": False}
        super().__init__(stack, actor, {**creds, "password": PASSWORD})

    @property
    def sid(self) -> str:
        return self.client.welcome["session"]

    def room(self, channel: str) -> dict:
        return {"id": f"{channel}@{self.server}", "type": "room", "name": channel}

    def subscribe(self, sub: dict) -> dict:
        rid = f"push-{time.monotonic_ns()}"
        self.client.send_raw(json.dumps({"kind": "push", "id": rid, "subscription": sub}))
        return self.client.reply(rid)

    def detach(self) -> None:
        """Close the socket; return once the gateway has marked the session detached."""
        info = self.client.resume_info
        self.client.close()
        r = self.stack.redis()
        deadline = time.monotonic() + 10
        while r.hget(keys.session(self.sid), "att") != b"0":
            assert time.monotonic() < deadline, "the session never detached"
            time.sleep(0.05)
        self._resume = info

    def resume(self) -> None:
        self.client = Client(self.stack.ws_url, hello={"kind": "hello", "resume": self._resume})
        assert self.client.welcome["resumed"], self.client.welcome


@pytest.fixture
def made(stack):
    out: list[Browser] = []
    yield out
    for b in out:
        try:
            b.request("disconnect", timeout=5)
        except Exception:
            pass
        b.close()


@pytest.fixture
def browser(stack, ircd, made):
    def make(nick: str) -> Browser:
        b = Browser(stack, ircd, nick)
        made.append(b)
        b.ok("connect")
        return b

    return make


@pytest.fixture
def watcher(ircd):
    clients: list[RawIrcClient] = []

    def make(nick: str, channel: str) -> RawIrcClient:
        c = RawIrcClient(ircd.host, ircd.port, nick, password=PASSWORD)
        c.__enter__()
        clients.append(c)
        c.send(f"JOIN {channel}")
        c.wait_for(lambda line: " 366 " in line)
        return c

    yield make
    for c in clients:
        c.close()


def settle() -> None:
    """Past the coalescing window of anything sent so far (a push would have gone)."""
    time.sleep(WINDOW + 1.0)


def joined(b: Browser, w: RawIrcClient, channel: str) -> None:
    b.ok("join", target=b.room(channel))
    w.wait_for(lambda ln: ln.startswith(f":{b.nick}!") and "JOIN" in ln)


def test_the_welcome_carries_the_vapid_public_key(stack, vapid, service):
    c = Client(stack.ws_url)
    assert c.welcome["push"] == {"vapidPublicKey": vapid[1]}
    check("server-welcome.json", c.welcome)
    frame = {"kind": "push", "id": "p", "subscription": service.subscribe("schema")}
    check("client-push.json", frame)
    c.send_raw(json.dumps(frame))
    check("server-reply.json", c.reply("p"))
    c.close()


def test_a_mention_while_detached_makes_one_push_with_only_sender_room_and_preview(
    browser, watcher, service, ircd
):
    w = watcher("mentioner", "#pushy")
    b = browser("pushy")
    joined(b, w, "#pushy")
    assert b.subscribe(service.subscribe("mention"))["result"] == {
        "type": "push",
        "subscriptions": 1,
    }
    b.detach()
    w.send("PRIVMSG #pushy :nothing for anyone here")
    w.send("PRIVMSG #pushy :pushyish is not a mention either")
    w.send("PRIVMSG #pushy :hey PUSHY, the build is broken again, please look")
    got = service.wait(1, "mention")[0]
    assert got.error == "" and got.headers["urgency"] == "high"
    assert got.payload == {
        "sender": {"id": f"mentioner@{ircd.host}", "name": "mentioner"},
        "conversation": {"id": f"#pushy@{ircd.host}", "type": "room", "name": "#pushy"},
        "preview": "hey PUSHY, the build is…",  # SOCKETHUB_PUSH_PREVIEW_CHARS=24
    }
    # several mentions within one window: one push, naming the latest
    for n in range(3):
        w.send(f"PRIVMSG #pushy :pushy: ping {n}")
    second = service.wait(2, "mention")[1]
    assert second.payload is not None and second.payload["preview"] == "pushy: ping 2"
    settle()
    assert len(service.pushes("mention")) == 2


def test_a_direct_message_pushes_and_nothing_while_attached(browser, watcher, service, ircd):
    w = watcher("dmer", "#dms")
    b = browser("dmtarget")
    joined(b, w, "#dms")
    b.subscribe(service.subscribe("dm"))
    w.send("PRIVMSG dmtarget :while you are here")  # attached: the tab shows it
    w.send("PRIVMSG #dms :dmtarget: mentioned while attached")
    b.event(lambda a: a["object"]["content"] == "while you are here")
    settle()
    assert service.pushes("dm") == []
    b.detach()
    w.send("PRIVMSG dmtarget :are you there?")
    got = service.wait(1, "dm")[0]
    assert got.payload == {
        "sender": {"id": f"dmer@{ircd.host}", "name": "dmer"},
        "conversation": {"id": f"dmer@{ircd.host}", "type": "person", "name": "dmer"},
        "preview": "are you there?",
    }


def test_read_in_another_session_means_no_push_and_the_marker_reaches_every_session(
    stack, ircd, made, watcher, service
):
    w = watcher("talker", "#reads")
    a = Browser(stack, ircd, "reader")
    made.append(a)
    a.ok("connect")
    joined(a, w, "#reads")
    b = Browser(stack, ircd, "reader")  # another tab of the same person: one connection
    made.append(b)
    b.ok("connect")
    a.subscribe(service.subscribe("read"))
    a.detach()
    w.send("PRIVMSG #reads :reader: lunch?")
    seen = b.event(lambda act: act["object"]["content"] == "reader: lunch?")
    convs = b.ok("connect")["result"]["object"]["conversations"]
    assert convs[f"#reads@{ircd.host}"]["unread"] == 1
    marker = {"type": "receipt", "id": seen["object"].get("id") or "latest", "status": "read"}
    done = b.ok("receipt", target=b.room("#reads"), object=marker)
    assert done["result"]["object"] == marker
    settle()
    assert service.pushes("read") == []
    convs = b.ok("connect")["result"]["object"]["conversations"]
    assert convs[f"#reads@{ircd.host}"] == {"unread": 0, "read": marker["id"]}
    # the first session, back, hears the other one's marker as an event, actor ourselves
    a.resume()
    got = a.event(lambda act: act["type"] == "receipt")
    assert got["actor"]["id"] == f"reader@{ircd.host}"
    assert got["target"]["id"] == f"#reads@{ircd.host}" and got["object"] == marker
    # what came after the marker is unread again, and is pushed (a is detached again)
    a.detach()
    w.send("PRIVMSG #reads :reader: still there?")
    assert service.wait(1, "read")[0].payload["preview"] == "reader: still there?"


def test_a_gone_subscription_is_removed(browser, watcher, service):
    w = watcher("goner", "#gone")
    b = browser("leaving")
    b.subscribe(service.subscribe("gone"))
    service.gone.add("gone")
    b.detach()
    w.send("PRIVMSG leaving :hello?")
    service.wait(1, "gone")
    r = b.stack.redis()
    deadline = time.monotonic() + 10
    while r.hlen(keys.session_push(b.sid)):
        assert time.monotonic() < deadline, "the 410'd subscription was kept"
        time.sleep(0.05)


def test_a_private_endpoint_is_refused_unless_private_addresses_are_allowed(
    stack, service, made, ircd
):
    port = stack.start_gateway(SOCKETHUB_ALLOW_PRIVATE_ADDRESSES="false")
    c = Client(f"ws://127.0.0.1:{port}/sockethub")
    try:
        c.send_raw(json.dumps({"kind": "push", "id": "p", "subscription": service.subscribe("x")}))
        reply = c.reply("p")
        assert reply["status"] == "failed" and reply["error"]["code"] == "blocked-address"
        assert "127.0.0.1 is a loopback address" in reply["error"]["message"]
        assert "SOCKETHUB_ALLOW_PRIVATE_ADDRESSES" in reply["error"]["message"]
        assert not stack.redis().exists(keys.session_push(c.welcome["session"]))
        plain = {**service.subscribe("y"), "endpoint": f"http://127.0.0.1:{service.port}/push/y"}
        c.send_raw(json.dumps({"kind": "push", "id": "q", "subscription": plain}))
        assert "https" in c.reply("q")["error"]["message"]
    finally:
        c.close()
