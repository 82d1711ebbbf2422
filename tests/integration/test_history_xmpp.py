"""History of a chat in the own log through the whole stack against a real Prosody: an
independent client sends 50 messages; the browser's history query returns them in order
with their ids and times, pages by cursor; another account's session reads nothing."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

from ..connectors.xmpp.session import Browser
from ..servers.prosody import XmppServer, run_prosody
from ..servers.xmpppeer import PlainClient
from ..session import browsers, msg
from ..stack import Stack

pytestmark = pytest.mark.integration

COUNT = 50


@pytest.fixture(scope="module")
def xmpp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppServer]:
    with run_prosody(tmp_path_factory.mktemp("prosody-history"), users=("ann", "ben", "cat")) as s:
        yield s


@pytest.fixture(scope="module")
def stack(xmpp_server: XmppServer) -> Iterator[Stack]:
    s = Stack(
        platforms=("xmpp",),
        env_overrides={
            "SOCKETHUB_REQUEST_TIMEOUT": "20",
            "SSL_CERT_FILE": str(xmpp_server.ca_file),
        },
    ).start()
    yield s
    s.stop()


@pytest.fixture
def browser(stack: Stack, xmpp_server: XmppServer) -> Iterator[Any]:
    yield from browsers(partial(Browser, stack, xmpp_server))


def _page(b: Any, target: dict[str, Any], **obj: Any) -> dict[str, Any]:
    reply = b.request("query", target=target, object={"type": "history", **obj})
    assert reply["status"] == "completed", reply
    return reply["result"]["object"]


def test_history_of_a_chat(xmpp_server: XmppServer, browser: Any) -> None:
    tag = secrets.token_hex(4)
    ann = browser("ann")
    ben = PlainClient(xmpp_server, "ben")
    try:
        sent = [ben.send_message(ann.jid, f"chat {tag} {n}") for n in range(COUNT)]
        ann.event(lambda a: a["object"].get("content") == f"chat {tag} {COUNT - 1}", timeout=20)
        mine = ann.ok("send", target=ann.person("ben"), object=msg(f"reply {tag}"))
        ben.wait_body(f"reply {tag}")
    finally:
        ben.close()
    page = _page(ann, ann.person("ben"))
    items = page["items"]
    assert [i["object"]["content"] for i in items] == [
        *(f"chat {tag} {n}" for n in range(COUNT)),
        f"reply {tag}",
    ]
    ids = [i["object"]["id"] for i in items]
    assert ids == [*sent, mine["result"]["object"]["id"]]  # the stanzas' own ids
    assert all(i["published"] for i in items)
    assert page["more"] == {"before": False, "after": False}
    assert [
        i["object"]["id"] for i in _page(ann, ann.person("ben"), before=ids[10], limit=4)["items"]
    ] == ids[6:10]
    assert [
        i["object"]["id"] for i in _page(ann, ann.person("ben"), after=ids[47])["items"]
    ] == ids[48:]
    assert [
        i["object"]["id"] for i in _page(ann, ann.person("ben"), around=ids[25], limit=5)["items"]
    ] == ids[23:28]
    capped = ann.request("query", target=ann.person("ben"), object={"type": "history", "limit": 0})
    assert capped["status"] == "failed" and capped["error"]["code"] == "invalid-envelope"
    found = ann.ok(
        "query", target=ann.person("ben"), object={"type": "search", "content": f"{tag} 42"}
    )
    assert [i["object"]["content"] for i in found["result"]["object"]["items"]] == [
        f"chat {tag} 42"
    ]

    cat = browser("cat")
    refused = cat.request("query", target=cat.person("ben"), object={"type": "history"})
    assert refused["status"] == "failed" and refused["error"]["code"] == "not-found", refused
    nothing = cat.ok("query", target=cat.actor, object={"type": "search", "content": tag})
    assert nothing["result"]["object"]["items"] == []
