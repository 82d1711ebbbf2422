"""A hostile XMPP server against the real stack: the connect fails with ``protocol-error``
and the browser's disconnect event says so, instead of the worker taking in megabytes."""

from __future__ import annotations

import pytest

from ..servers.hostilexmpp import HostileXmppServer
from ..session import Browser as BaseBrowser
from ..stack import Stack

pytestmark = pytest.mark.integration


class Browser(BaseBrowser):
    platform = "xmpp"

    def __init__(self, stack: Stack, port: int):
        jid = "alice@localhost"
        creds = {
            "userAddress": jid,
            "resource": "web",
            "password": "pw",
            "server": "127.0.0.1",
            "port": port,
        }
        super().__init__(stack, {"id": jid, "type": "person", "name": "alice"}, creds)


def test_a_stanza_without_end_fails_the_connect_with_protocol_error(tmp_path_factory):
    server = HostileXmppServer(b"<message to='alice@localhost'><body>", b"x")
    stack = Stack(platforms=("xmpp",), logdir=str(tmp_path_factory.mktemp("logs")))
    with server.threaded():
        stack.start()
        try:
            b = Browser(stack, server.port)
            reply = b.request("connect")
            assert reply["status"] == "failed", reply
            assert reply["error"]["code"] == "protocol-error", reply
            assert "SOCKETHUB_XMPP_MAX_STANZA_BYTES" in reply["error"]["message"]
            event = b.event(lambda a: a["type"] == "disconnect")
            assert event["object"]["code"] == "protocol-error", event
            assert server.sent < 8 * 1024 * 1024
            b.close()
        finally:
            stack.stop()
