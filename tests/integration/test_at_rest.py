"""A copy of Redis reveals no conversation: after real chats, nothing readable is left.

The whole stack runs (gateway, Celery workers, ngircd or Prosody); browsers chat both ways
and leave requests queued that no worker consumes. Then every key of the Redis is read by
its type and searched for the message texts and the secrets: raw, hex, base64 at any
alignment, and inside every base64 run (Celery message bodies are base64 JSON) decoded,
recursively.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ..connectors.xmpp.session import Browser as XmppBrowser
from ..servers.ircclient import RawIrcClient
from ..servers.ircd import run_ngircd
from ..servers.prosody import run_prosody
from ..servers.xmpppeer import PlainClient
from ..session import Browser, msg
from ..stack import SECRET, Stack
from ..wsclient import Client, activity

pytestmark = pytest.mark.integration

_B64_RUN = re.compile(rb"[A-Za-z0-9+/_-]{16,}={0,2}")


def redis_dump(r: Any) -> list[tuple[bytes, bytes]]:
    """Every key name and every value, field and member in the Redis, with its key."""
    found: list[tuple[bytes, bytes]] = []
    for key in r.scan_iter(count=1000):
        out = [key]
        kind = r.type(key)
        if kind == b"string":
            out.append(r.get(key) or b"")
        elif kind == b"hash":
            for field, value in r.hgetall(key).items():
                out += [field, value]
        elif kind == b"list":
            out += r.lrange(key, 0, -1)
        elif kind == b"set":
            out += list(r.smembers(key))
        elif kind == b"zset":
            out += [m for m, _ in r.zrange(key, 0, -1, withscores=True)]
        elif kind == b"stream":
            for entry_id, fields in r.xrange(key):
                out.append(entry_id)
                for field, value in fields.items():
                    out += [field, value]
        elif kind != b"none":  # expired between SCAN and TYPE
            raise AssertionError(f"unexpected Redis type {kind!r} of {key!r}")
        found += [(key, blob) for blob in out]
    return found


def _decoded_runs(blob: bytes, depth: int = 3) -> Iterator[bytes]:
    """``blob`` and whatever its base64 runs decode to, recursively."""
    yield blob
    if depth == 0:
        return
    for run in _B64_RUN.findall(blob):
        for decode in (base64.b64decode, base64.urlsafe_b64decode):
            try:
                data = decode(run + b"=" * (-len(run) % 4))
            except (binascii.Error, ValueError):
                continue
            yield from _decoded_runs(data, depth - 1)


def _encodings(needle: bytes) -> list[bytes]:
    """The needle as it would appear raw, in hex, or base64-encoded at any alignment."""
    forms = [needle, needle.hex().encode(), needle.hex().upper().encode()]
    for shift in range(3):
        for enc in (base64.b64encode, base64.urlsafe_b64encode):
            text = enc(b"\0" * shift + needle)
            # only the characters made of the needle's bits alone, not of its neighbours
            forms.append(text[(shift * 8 + 5) // 6 : (shift + len(needle)) * 8 // 6])
    return [f for f in forms if len(f) >= 8]


def leaks(r: Any, needles: dict[str, str]) -> list[str]:
    """Which needles can be read from the Redis, and where."""
    found = []
    forms = {name: _encodings(needle.encode()) for name, needle in needles.items()}
    for key, blob in redis_dump(r):
        for data in _decoded_runs(blob):
            for name in sorted(n for n, f in forms.items() if any(x in data for x in f)):
                found.append(f"{name} in {key.decode(errors='replace')}")
    return sorted(set(found))


def test_the_scanner_finds_every_encoding():
    """The scan must be able to fail: each way a value can be stored is found."""
    needle = "needle-" + secrets.token_hex(4)
    raw = needle.encode()
    for blob in (
        b"x" + raw + b"y",
        raw.hex().encode(),
        b'{"body": "' + base64.b64encode(b'[{"a": "' + raw + b'"}]') + b'"}',
        b"zz" + base64.b64encode(b"12" + raw) + b"zz",
        base64.urlsafe_b64encode(b"\xff\xfe" + raw),
    ):
        assert any(form in data for data in _decoded_runs(blob) for form in _encodings(raw)), blob


def _marker(name: str) -> str:
    return f"{name}-{secrets.token_hex(6)}"


class IrcBrowser(Browser):
    platform = "irc"


@pytest.fixture(scope="module")
def irc_password() -> str:
    return _marker("ircpass")


@pytest.fixture(scope="module")
def ircd(tmp_path_factory, irc_password):
    with run_ngircd(tmp_path_factory.mktemp("ircd-at-rest"), password=irc_password) as server:
        yield server


@pytest.fixture(scope="module")
def chat_stack(ircd):
    s = Stack(
        platforms=("dummy", "irc"),
        env_overrides={"SOCKETHUB_IRC_FLOOD_RATE": "0", "SOCKETHUB_REQUEST_TIMEOUT": "30"},
    ).start()
    yield s
    s.stop()


def test_redis_holds_no_message_text_and_no_secret(chat_stack, ircd, irc_password):
    s = chat_stack
    texts = {
        name: _marker(name) for name in ("echoed", "to-irc", "from-irc", "queued", "display-name")
    }

    # dummy: an echo through a worker, reply in the resume stream
    c = Client(s.ws_url)
    reply = c.request(activity("dummy", "echo", object=msg(texts["echoed"])))
    assert reply["status"] == "completed", reply
    assert reply["result"]["object"]["content"] == texts["echoed"]

    # IRC: the browser speaks to a channel, another client answers (fanned-out event)
    # the display name is in the connection record (sh:conn:...) a takeover reads
    actor = {"id": f"sealy@{ircd.host}", "type": "person", "name": texts["display-name"]}
    creds = {
        "nick": "sealy",
        "server": ircd.host,
        "port": ircd.port,
        "secure": False,
        "password": irc_password,
    }
    b = IrcBrowser(s, actor, creds)
    room = {"id": f"#sealed@{ircd.host}", "type": "room", "name": "#sealed"}
    with RawIrcClient(ircd.host, ircd.port, "peer", password=irc_password) as peer:
        peer.send("JOIN #sealed")
        peer.wait_for(lambda line: " 366 " in line)
        b.ok("connect")
        b.ok("join", target=room)
        b.ok("send", target=room, object=msg(texts["to-irc"]))
        assert peer.wait_for(lambda ln: "PRIVMSG #sealed" in ln).endswith(texts["to-irc"])
        peer.send(f"PRIVMSG #sealed :{texts['from-irc']}")
        got = b.event(lambda a: a["type"] == "send")
        assert got["object"]["content"] == texts["from-irc"]

        # requests no worker consumes: they sit in the dummy queue, their markers pending
        s.kill("worker-dummy")
        queued = [c.send(activity("dummy", "echo", object=msg(texts["queued"]))) for _ in range(3)]
        deadline = time.time() + 10
        while s.redis().llen("dummy") < len(queued):
            assert time.time() < deadline, "the requests never reached the queue"
            time.sleep(0.05)

        needles = {
            **texts,
            "irc password": irc_password,
            "SOCKETHUB_SECRET": SECRET,
            "resume token": c.welcome["token"],
            "irc resume token": b.client.welcome["token"],
        }
        found = leaks(s.redis(), needles)
        assert not found, "readable in Redis:\n" + "\n".join(found)
        assert s.redis().keys("sh:log:irc:*"), "the own log was scanned too"
    b.close()
    c.close()


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory):
    with run_prosody(tmp_path_factory.mktemp("prosody-at-rest"), users=("alice", "bob")) as srv:
        yield srv


def test_redis_holds_no_xmpp_chat_and_no_password(xmpp_server):
    texts = {name: _marker(name) for name in ("to-xmpp", "from-xmpp", "queued")}
    s = Stack(
        platforms=("xmpp",),
        env_overrides={
            "SOCKETHUB_REQUEST_TIMEOUT": "20",
            "SSL_CERT_FILE": str(xmpp_server.ca_file),
        },
    ).start()
    bob = PlainClient(xmpp_server, "bob")
    try:
        a = XmppBrowser(s, xmpp_server, "alice")
        a.ok("connect")
        a.ok("send", target=a.person("bob"), object=msg(texts["to-xmpp"]))
        bob.wait_body(texts["to-xmpp"])
        bob.send_message(a.jid, texts["from-xmpp"])
        got = a.event(lambda x: x["type"] == "send")
        assert got["object"]["content"] == texts["from-xmpp"]
        # a send no worker consumes: it waits in the direct queue of the connection's node
        s.kill("worker-xmpp")
        a.client.send(
            activity(
                "xmpp", "send", actor=a.actor, target=a.person("bob"), object=msg(texts["queued"])
            )
        )
        r, queues = s.redis(), ("xmpp", "worker-xmpp@127.0.0.1.dq")
        deadline = time.time() + 10
        while sum(r.llen(q) for q in queues) < 1:
            assert time.time() < deadline, "the request never reached a queue"
            time.sleep(0.05)
        needles = {
            **texts,
            "alice's password": xmpp_server.password("alice"),
            "SOCKETHUB_SECRET": SECRET,
            "resume token": a.client.welcome["token"],
        }
        found = leaks(s.redis(), needles)
        assert not found, "readable in Redis:\n" + "\n".join(found)
        assert s.redis().keys("sh:log:xmpp:*"), "the own log was scanned too"
        a.close()
    finally:
        bob.close()
        s.stop()
