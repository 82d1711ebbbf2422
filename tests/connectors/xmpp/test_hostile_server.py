"""XmppUpstream against scripted hostile XMPP servers on 127.0.0.1: a stanza that never
ends, and bytes that never become a stanza, are capped and close with ``protocol-error``;
a refused SCRAM login is not retried with PLAIN."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from connectors.persistent import ConnectionSpec
from connectors.xmpp.client import Memory, XmppUpstream
from envelopes.errors import AuthenticationFailed, ProtocolError
from envelopes.settings import Settings

from ...servers.hostilexmpp import HostileXmppServer, SaslRecordingServer
from .test_upstream import run


def upstream(port: int, settings: Settings, **more: object) -> XmppUpstream:
    creds = {
        "userAddress": "alice@localhost",
        "password": "pw",
        "resource": "web",
        "server": "127.0.0.1",
        "port": port,
        **more,
    }
    spec = ConnectionSpec("k1", {"id": "alice@localhost", "type": "person"}, creds)
    return XmppUpstream(spec, lambda a: None, settings, Memory())


SETTINGS = replace(Settings(allow_private_addresses=True), xmpp_max_stanza_bytes=262144)


@pytest.mark.parametrize(
    ("opening", "filler"),
    [
        (b"<message to='alice@localhost'><body>", b"x"),  # one stanza without end
        (b"", b" "),  # whitespace between stanzas, for ever
        (b"<message a='", b"y"),  # a start tag that never closes (unparsed bytes)
    ],
    ids=["endless-stanza", "endless-whitespace", "endless-tag"],
)
def test_a_server_flooding_the_stream_is_cut_off(opening, filler):
    async def go():
        async with HostileXmppServer(opening, filler) as srv:
            up = upstream(srv.port, SETTINGS)
            start = time.monotonic()
            with pytest.raises(ProtocolError, match="SOCKETHUB_XMPP_MAX_STANZA_BYTES") as info:
                await asyncio.wait_for(up.connect(), 15)
            assert info.value.code == "protocol-error"
            event = up.state_event("disconnected", reason=info.value.message)
            assert event["object"]["code"] == "protocol-error"
            assert time.monotonic() - start < 5
            assert srv.sent < 8 * 1024 * 1024  # cut off early, not after 32 MB

    run(go())


def test_a_refused_scram_login_is_not_retried_with_plain(tmp_path):
    # The server offers SCRAM-SHA-1 and PLAIN and refuses the SCRAM attempt: trying PLAIN
    # next would hand the password itself to whoever refused a proof of it (a downgrade).
    async def go():
        async with SaslRecordingServer(tmp_path) as srv:
            up = upstream(srv.port, SETTINGS, allowInvalidCert=True)
            with pytest.raises(AuthenticationFailed, match="not-authorized") as info:
                await asyncio.wait_for(up.connect(), 15)
            assert info.value.details[0]["condition"] == "not-authorized"
            assert srv.attempts == ["SCRAM-SHA-1"]
            assert not any(b"pw" in p for p in srv.payloads)

    run(go())


def test_plain_is_used_when_it_is_all_the_server_offers(tmp_path):
    async def go():
        async with SaslRecordingServer(tmp_path, mechanisms=("PLAIN",)) as srv:
            up = upstream(srv.port, SETTINGS, allowInvalidCert=True)
            with pytest.raises(AuthenticationFailed, match="not-authorized"):
                await asyncio.wait_for(up.connect(), 15)
            assert srv.attempts == ["PLAIN"]

    run(go())
