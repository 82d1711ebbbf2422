"""History merges the server's archive (MAM) with the own log: messages from before we
connected are only in the archive, those since are in both, and each comes once, in order.

Real Prosody with ``mod_mam`` and without offline storage (so what was sent while we were
away is only in the archive), the whole stack, an independent slixmpp client.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ..connectors.xmpp.session import Browser
from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..session import browsers
from ..stack import Stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    with run_prosody(
        tmp_path_factory.mktemp("prosody-mam-merge"), users=("ann", "ben"), disabled=("offline",)
    ) as s:
        yield s


@pytest.fixture(scope="module")
def stack(xmpp_server: XmppServer) -> Iterator[Stack]:
    env = {"SOCKETHUB_REQUEST_TIMEOUT": "20", "SSL_CERT_FILE": str(xmpp_server.ca_file)}
    s = Stack(platforms=("xmpp",), env_overrides=env).start()
    yield s
    s.stop()


@pytest.fixture
def browser(stack: Stack, xmpp_server: XmppServer) -> Iterator[Any]:
    yield from browsers(partial(Browser, stack, xmpp_server))


def test_the_archive_and_the_own_log_merge_without_duplicates(
    xmpp_server: XmppServer, browser: Any
) -> None:
    tag = secrets.token_hex(4)
    ben = PlainClient(xmpp_server, "ben")
    try:
        # ann is not connected: these are kept in her archive only.
        before = [ben.send_message(xmpp_server.jid("ann"), f"{tag} away {n}") for n in range(3)]
        ann = browser("ann")
        live = [ben.send_message(ann.jid, f"{tag} live {n}") for n in range(3)]
        ann.event(lambda a: a["object"].get("content") == f"{tag} live 2", timeout=20)
    finally:
        ben.close()
    reply = ann.request("query", target=ann.person("ben"), object={"type": "history"})
    assert reply["status"] == "completed", reply
    items = reply["result"]["object"]["items"]
    said = [i["object"]["content"] for i in items if tag in i["object"].get("content", "")]
    assert said == [*(f"{tag} away {n}" for n in range(3)), *(f"{tag} live {n}" for n in range(3))]
    ids = [i["object"]["id"] for i in items if tag in i["object"].get("content", "")]
    assert ids == [*before, *live]  # one each: by id, the archive's copy and the log's
