"""Rooms our join creates, against a stock Prosody (rooms locked until configured).

XEP-0045 §10.1.2: a room a join creates is locked until its owner accepts a configuration;
Prosody's default (``muc_room_locking``) keeps everyone else out with ``item-not-found``
until then. The test server runs with that default, so this checks what a second person
really meets.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ..connectors.xmpp.session import Browser
from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..session import browsers, msg
from ..stack import Stack
from .test_xmpp import xmpp_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    with run_prosody(tmp_path_factory.mktemp("prosody")) as server:
        yield server


@pytest.fixture(scope="module")
def stack(xmpp_server: XmppServer) -> Iterator[Stack]:
    s = xmpp_stack(xmpp_server).start()
    yield s
    s.stop()


@pytest.fixture
def browser(stack: Stack, xmpp_server: XmppServer) -> Iterator[Any]:
    yield from browsers(partial(Browser, stack, xmpp_server))


def test_a_room_our_join_creates_is_open_to_others_at_once(browser: Any, xmpp_server: XmppServer):
    room = xmpp_server.room("brand-new")
    a = browser("alice", name="Founder")
    a.ok("join", target=a.room("brand-new"))
    joined = a.event(lambda x: x["type"] == "join")
    assert joined["object"]["affiliation"] == "owner"  # we created it
    bob = PlainClient(xmpp_server, "bob", "latecomer")
    try:
        bob.join(room, "bob", accept_instant=False)  # item-not-found while it is locked
        bob.send_message(room, "let me in", mtype="groupchat")
        assert a.event(lambda x: x["object"].get("content") == "let me in")
        a.ok("send", target=a.room("brand-new"), object=msg("welcome"))
        assert bob.wait_body("welcome")
    finally:
        bob.close()
