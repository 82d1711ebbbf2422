"""File upload through the gateway (XEP-0363) against a real Prosody with
``mod_http_file_share``: the browser asks for an upload over the socket, PUTs the file to
the gateway, a worker PUTs it to Prosody's slot; the link then goes out in a message
(XEP-0066) that an independent client receives.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.request
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ..connectors.xmpp.session import Browser
from ..gateway.test_upload_routes import everything_in
from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..session import browsers
from ..stack import Stack
from ..wsclient import Client

pytestmark = pytest.mark.integration

SETTING_CAP = 6 * 1024 * 1024  # SOCKETHUB_UPLOAD_MAX_BYTES here; Prosody takes 4 MiB
OOB = "{jabber:x:oob}"


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    with run_prosody(tmp_path_factory.mktemp("prosody"), users=("alice", "bob")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(xmpp_server: XmppServer) -> Iterator[Stack]:
    s = Stack(
        platforms=("xmpp",),
        env_overrides={
            "SOCKETHUB_REQUEST_TIMEOUT": "20",
            "SSL_CERT_FILE": str(xmpp_server.ca_file),
            "SOCKETHUB_UPLOAD_MAX_BYTES": str(SETTING_CAP),
        },
    ).start()
    yield s
    s.stop()


@pytest.fixture
def browser(stack: Stack, xmpp_server: XmppServer) -> Iterator[Any]:
    yield from browsers(partial(Browser, stack, xmpp_server))


@pytest.fixture
def bob(xmpp_server: XmppServer) -> Iterator[PlainClient]:
    c = PlainClient(xmpp_server, "bob")
    yield c
    c.close()


def file_object(size: int, name: str = "photo.bin") -> dict[str, Any]:
    return {"type": "file", "name": name, "size": size, "mediaType": "application/octet-stream"}


def put(stack: Stack, path: str, sid: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """The browser's PUT, its body sent chunked (no Content-Length to trust)."""
    conn = http.client.HTTPConnection("127.0.0.1", stack.gateways[0], timeout=60)
    try:
        pieces = (body[i : i + 100_000] for i in range(0, len(body), 100_000))
        conn.request(
            "PUT", path, body=pieces, headers={"X-Sockethub-Session": sid}, encode_chunked=True
        )
        answer = conn.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        conn.close()


def test_a_1mb_upload_reaches_the_server_and_the_peer(
    browser: Any, bob: PlainClient, stack: Stack, xmpp_server: XmppServer
) -> None:
    a = browser("alice")
    data = os.urandom(1024 * 1024)
    reply = a.ok("upload", object=file_object(len(data)))
    obj = reply["result"]["object"]
    assert obj["upload"]["url"].startswith("/sockethub-upload/"), obj
    sid = a.client.welcome["session"]

    # Another session (another tab, another browser) cannot use it, nor use it up.
    other = Client(stack.ws_url)
    try:
        status, refused = put(stack, obj["upload"]["url"], other.welcome["session"], b"x")
    finally:
        other.close()
    assert status == 403 and refused["reason"] == "other-session", refused

    # Redis, scanned over and over while the file goes through: never a clear piece of it.
    redis, seen, done = stack.redis(), [], threading.Event()

    def scan() -> None:
        while not done.is_set():
            seen.append(everything_in(redis))

    scanner = threading.Thread(target=scan, daemon=True)
    scanner.start()
    try:
        status, answer = put(stack, obj["upload"]["url"], sid, data)
    finally:
        done.set()
        scanner.join(10)
    assert status == 200, answer
    url = answer["url"]
    assert url.startswith(f"http://127.0.0.1:{xmpp_server.http_port}/"), answer
    assert answer["size"] == len(data) and answer["name"] == "photo.bin"

    # Byte-identical at the upload server.
    with urllib.request.urlopen(url, timeout=10) as got:
        assert got.read() == data
    seen.append(everything_in(redis))
    assert len(seen) > 2  # scanned while it went through, and after
    for blob in seen:
        for at in range(0, len(data) - 64, len(data) // 8):
            assert data[at : at + 32] not in blob
    assert not list(redis.scan_iter(match="sh:up:*:data"))  # deleted once sent

    # A single use: the same URL again is refused.
    status, again = put(stack, obj["upload"]["url"], sid, data)
    assert status == 409 and again["reason"] == "used", again

    # The link goes out in a message; bob sees the URL as the body and as XEP-0066.
    attachment = {"type": "file", "url": url, "name": "photo.bin"}
    a.ok("send", target=a.person("bob"), object={"type": "message", "attachment": attachment})
    got = bob.wait_body(url)
    oob = got.xml.find(f"{OOB}x")
    assert oob is not None and oob.findtext(f"{OOB}url") == url, got

    # And the other way: bob's link arrives as an attachment.
    bob.do(
        lambda: bob.xmpp.send_raw(
            f"<message to='{a.jid}/web' type='chat' id='l1'><body>{url}</body>"
            f"<x xmlns='jabber:x:oob'><url>{url}</url><desc>holiday</desc></x></message>"
        )
    )
    event = a.event(lambda x: x["type"] == "send" and x["object"].get("id") == "l1")
    assert event["object"]["attachment"] == {"type": "file", "url": url, "name": "holiday"}


def test_size_caps_of_the_server_and_the_setting(browser: Any, xmpp_server: XmppServer) -> None:
    a = browser("alice")
    over_server = xmpp_server.upload_limit + 1
    reply = a.request("upload", object=file_object(over_server))
    assert reply["status"] == "failed" and reply["error"]["code"] == "too-large", reply
    assert (
        f"{xmpp_server.upload} accepts at most {xmpp_server.upload_limit}"
        in (reply["error"]["message"])
    )
    reply = a.request("upload", object=file_object(SETTING_CAP + 1))
    assert reply["status"] == "failed" and reply["error"]["code"] == "too-large", reply
    assert "SOCKETHUB_UPLOAD_MAX_BYTES" in reply["error"]["message"]
