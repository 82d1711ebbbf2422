"""A page written for Sockethub, unchanged, against this gateway in headless Chromium.

The page (``pages/sockethub-sdk.html``) is written as Sockethub's getting-started guide
writes one: it loads ``/socket.io.js`` and ``/sockethub-client.js`` from the server and
calls ``new SockethubClient(io(url, {path: "/sockethub"}))``, then ``sc.ready()``,
``sc.contextFor()`` and ``sc.socket.emit(event, activity, ack)``. It is served from
another origin, as Sockethub apps usually are, which the gateway is told to allow
(``SOCKETHUB_ALLOWED_ORIGINS``, the migration guide's step), and talks to the whole
stack: dummy, and IRC against a real ngircd watched by an independent raw-socket IRC
client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from envelopes.context import context_for

from ..httpclient import call
from ..servers.ircclient import RawIrcClient
from ..servers.ircd import IrcServer, run_ngircd
from ..stack import Stack, free_port

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PAGE = Path(__file__).parent / "pages" / "sockethub-sdk.html"


@pytest.fixture(scope="module")
def ircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IrcServer]:
    with run_ngircd(tmp_path_factory.mktemp("ircd-sdk")) as server:
        yield server


@pytest.fixture(scope="module")
def app_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def sdk_stack(ircd: IrcServer, app_port: int) -> Iterator[Stack]:
    env = {
        "SOCKETHUB_IRC_FLOOD_RATE": "0",
        "SOCKETHUB_ALLOWED_ORIGINS": f"http://127.0.0.1:{app_port}",
    }
    s = Stack(platforms=("dummy", "irc"), env_overrides=env).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def app_site(sdk_stack: Stack, app_port: int) -> Iterator[str]:
    """The app's own web server (another origin than the gateway's): serves the page."""
    html = PAGE.read_text().replace("GATEWAY_URL", sdk_stack.url).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", app_port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{app_port}/sockethub-sdk.html"
    server.shutdown()
    server.server_close()


@pytest.fixture
def sdk_page(page: Any, app_site: str) -> Any:
    page.goto(app_site)
    expect(page.locator("#state")).to_have_attribute("data-state", "ready")
    return page


def send(page: Any, event: str, activity: dict[str, Any]) -> Any:
    return page.evaluate("([e, a]) => send(e, a)", [event, activity])


def test_the_scripts_are_the_gateways_own(sdk_stack: Stack) -> None:
    for name, needle in (
        ("socket.io.js", "Engine.IO 4"),
        ("sockethub-client.js", "SockethubSdkClient"),
    ):
        got = call("GET", f"{sdk_stack.url}/{name}")
        assert got.status == 200 and "javascript" in got.headers["content-type"]
        assert got.headers["access-control-allow-origin"] == "*"
        assert needle in got.text  # ours: no third-party bundle is served


def test_echo(sdk_page: Any) -> None:
    assert sdk_page.evaluate("sc.getRegisteredPlatforms()") == ["dummy", "irc"]
    assert sdk_page.evaluate("sc.contextFor('dummy')") == context_for("dummy")
    reply = sdk_page.evaluate(
        """() => send('message', {
            '@context': sc.contextFor('dummy'), type: 'echo',
            actor: {id: 'page@dummy'}, object: {type: 'message', content: 'hi from the page'}})"""
    )
    assert "error" not in reply, reply
    assert reply["@context"] == context_for("dummy") and reply["type"] == "echo"
    assert reply["object"]["content"] == "hi from the page"
    assert reply["target"] == {"id": "page@dummy", "type": "person"}  # actor.type defaulted
    failed = sdk_page.evaluate(
        """() => send('message', {
            '@context': sc.contextFor('dummy'), type: 'fail',
            actor: {id: 'page@dummy', type: 'person'},
            object: {type: 'message', content: 'boom'}})"""
    )
    assert failed["error"] == "boom" and failed["type"] == "fail"
    local = sdk_page.evaluate(
        """() => send('message', {'@context': sc.contextFor('dummy'), type: 'nope', actor: 'x'})"""
    )
    assert local["error"].startswith("SockethubClient validation failed: platform type nope")


def test_irc_send_and_receive(sdk_page: Any, ircd: IrcServer) -> None:
    nick, channel = "sdkpage", "#sdkpage"
    actor = {"id": f"{nick}@{ircd.host}", "type": "person", "name": nick}
    room = {"id": f"{channel}@{ircd.host}", "type": "room", "name": channel}
    ctx = context_for("irc")
    with RawIrcClient(ircd.host, ircd.port, "sdkwatch") as watcher:
        watcher.send(f"JOIN {channel}")
        watcher.wait_for(lambda line: " 366 " in line)
        creds = {"type": "credentials", "nick": nick, "server": ircd.host, "port": ircd.port}
        acked = send(
            sdk_page,
            "credentials",
            {"@context": ctx, "actor": actor, "object": {**creds, "secure": False}},
        )
        assert "error" not in acked, acked
        for verb, extra in (("connect", {}), ("join", {"target": room})):
            reply = send(
                sdk_page, "message", {"@context": ctx, "type": verb, "actor": actor, **extra}
            )
            assert "error" not in reply, reply
        watcher.wait_for(lambda line: line.startswith(f":{nick}!") and " JOIN " in line)
        said = send(
            sdk_page,
            "message",
            {
                "@context": ctx,
                "type": "send",
                "actor": actor,
                "target": room,
                "object": {"type": "message", "content": "hello from a Sockethub page"},
            },
        )
        assert "error" not in said, said
        watcher.wait_for(f"PRIVMSG {channel} :hello from a Sockethub page")
        watcher.send(f"PRIVMSG {channel} :hello page")
        pushed = sdk_page.locator('#log li[data-kind="message"]', has_text="hello page")
        expect(pushed).to_have_count(1)


def test_a_reconnect_replays_onto_the_same_irc_connection(sdk_page: Any, ircd: IrcServer) -> None:
    """The WebSocket under ``io()`` drops: our ``io()`` reconnects, the SDK mode does the
    schemas handshake with its fingerprint and replays credentials, connect and join
    without acks; the gateway puts them on the connection still open (no ``nick_``)."""
    nick, channel = "sdkback", "#sdkback"
    actor = {"id": f"{nick}@{ircd.host}", "type": "person", "name": nick}
    room = {"id": f"{channel}@{ircd.host}", "type": "room", "name": channel}
    ctx = context_for("irc")
    creds = {"type": "credentials", "nick": nick, "server": ircd.host, "port": ircd.port}
    with RawIrcClient(ircd.host, ircd.port, "sdkwatch2") as watcher:
        watcher.send(f"JOIN {channel}")
        watcher.wait_for(lambda line: " 366 " in line)
        send(
            sdk_page,
            "credentials",
            {"@context": ctx, "actor": actor, "object": {**creds, "secure": False}},
        )
        send(sdk_page, "message", {"@context": ctx, "type": "connect", "actor": actor})
        send(sdk_page, "message", {"@context": ctx, "type": "join", "actor": actor, "target": room})
        watcher.wait_for(lambda line: line.startswith(f":{nick}!") and " JOIN " in line)
        first_id = sdk_page.evaluate("sc.socket.id")
        sdk_page.evaluate("sc._raw._ws.close()")  # the transport drops, as a network would
        ready = sdk_page.locator('#log li[data-kind="ready"]', has_text='"reason":"reconnect"')
        expect(ready).to_have_count(1, timeout=20_000)
        assert sdk_page.evaluate("sc.socket.id") != first_id
        said = send(
            sdk_page,
            "message",
            {
                "@context": ctx,
                "type": "send",
                "actor": actor,
                "target": room,
                "object": {"type": "message", "content": "still here"},
            },
        )
        assert "error" not in said, said
        watcher.wait_for(f":{nick}!")  # the line comes from the same nick...
        seen = "\n".join(watcher.lines)
        assert f"PRIVMSG {channel} :still here" in seen
        assert f"{nick}_" not in seen and seen.count(f":{nick}!") == 2  # ...joined once
