"""MAM without a server: what a server without archives, a failing one and a forger get."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from connectors.xmpp.mam import recover
from envelopes.errors import UpstreamTimeout

from .test_upstream import run, upstream

DISCO = "http://jabber.org/protocol/disco#info"


class FakeIq:
    def __init__(self, to: str | None):
        self.to = to
        self.disco = False

    def append(self, el: ET.Element) -> None:
        self.disco = el.tag == f"{{{DISCO}}}query"


class FakeStream:
    def Iq(self, stype: str, sto: str | None = None) -> FakeIq:  # noqa: N802 (slixmpp's name)
        return FakeIq(sto)


def disco(*features: str) -> ET.Element:
    iq = ET.Element("iq", {"type": "result"})
    q = ET.SubElement(iq, f"{{{DISCO}}}query")
    ET.SubElement(q, f"{{{DISCO}}}identity", {"category": "account", "type": "registered"})
    for f in features:
        ET.SubElement(q, f"{{{DISCO}}}feature", {"var": f})
    return iq


def test_no_archive_advertised_means_none():
    up, _events, _ = upstream()
    up.xmpp = FakeStream()  # type: ignore[assignment]

    async def iq(_iq: Any, _timeout: float, _what: str) -> ET.Element:
        return disco("http://jabber.org/protocol/disco#info")

    up.iq = iq  # type: ignore[method-assign]
    assert run(up.server_history("bob@localhost", limit=10)) is None


def test_a_gap_that_cannot_be_recovered_is_a_gap_event():
    up, events, _ = upstream()
    up.xmpp = FakeStream()  # type: ignore[assignment]
    up.marks.delivered(
        {
            "type": "send",
            "actor": {"type": "person", "id": "bob@localhost"},
            "target": {"type": "person", "id": "alice@localhost"},
            "object": {"type": "message", "id": "m1", "xmpp:stanza-id": "s1"},
            "published": "2026-01-01T10:00:00Z",
        },
        up.jid,
    )

    async def iq(iq: Any, _timeout: float, _what: str) -> ET.Element:
        if iq.disco and iq.to == "lobby@conference.localhost":
            return disco("urn:xmpp:mam:2")  # the room has an archive, but does not answer
        if iq.disco:
            return disco()  # our account has none
        raise UpstreamTimeout("no answer")

    up.iq = iq  # type: ignore[method-assign]
    run(recover(up, ["lobby@conference.localhost"], 1767261600.0))
    gaps = [(e["target"]["id"], e["object"]["from"]) for e in events if e["type"] == "gap"]
    assert gaps == [
        ("bob@localhost", "2026-01-01T10:00:00Z"),  # from the last message seen
        ("lobby@conference.localhost", "2026-01-01T10:00:00Z"),  # from the drop
    ]
    assert all(e["object"]["type"] == "gap" and e["object"]["to"] for e in events)
    assert events[0]["actor"]["id"] == "alice@localhost"


def test_archive_results_nobody_asked_for_are_dropped_not_delivered():
    up, events, _ = upstream()
    forged = ET.fromstring(
        "<message xmlns='jabber:client' from='mallory@evil.example' to='alice@localhost/web'>"
        "<result xmlns='urn:xmpp:mam:2' queryid='q1' id='x'>"
        "<forwarded xmlns='urn:xmpp:forward:0'><message from='bob@localhost' type='chat'>"
        "<body>forged</body></message></forwarded></result></message>"
    )

    class Stanza:
        xml = forged

    up._on_stanza(Stanza())
    assert events == []


def test_an_archived_message_has_the_shape_and_ids_of_a_live_one():
    from connectors.xmpp.archive import archived_send, result_of
    from connectors.xmpp.context import XmppContext

    ctx = XmppContext(jid="alice@localhost", resource="web")

    def result(inner: str) -> Any:
        el = ET.fromstring(
            "<message xmlns='jabber:client' to='alice@localhost/web'>"
            "<result xmlns='urn:xmpp:mam:2' queryid='q1' id='arch-1'>"
            "<forwarded xmlns='urn:xmpp:forward:0'>"
            "<delay xmlns='urn:xmpp:delay' stamp='2026-12-01T09:00:00Z'/>"
            f"{inner}</forwarded></result></message>"
        )
        found = result_of(el)
        assert found is not None and found.queryid == "q1" and found.id == "arch-1"
        return found

    # One we sent from another client: our own send, to the contact.
    ours = result(
        "<message xmlns='jabber:client' from='alice@localhost/phone' to='bob@localhost' "
        "type='chat' id='m-1'><body>hi bob</body></message>"
    )
    sent = archived_send(ours, "alice@localhost", ctx)
    assert sent is not None
    assert sent["actor"]["id"] == "alice@localhost" and sent["target"]["id"] == "bob@localhost"
    assert sent["object"]["id"] == "m-1" and sent["object"]["xmpp:stanza-id"] == "arch-1"
    assert sent["published"] == "2026-12-01T09:00:00Z"
    # One without an id of its own: the archive's id names it, as live events do.
    theirs = result(
        "<message xmlns='jabber:client' from='bob@localhost/pc' to='alice@localhost' "
        "type='chat'><body>hi alice</body></message>"
    )
    got = archived_send(theirs, "alice@localhost", ctx)
    assert got is not None and got["actor"]["id"] == "bob@localhost"
    assert got["object"]["id"] == "arch-1" and got["target"]["id"] == "alice@localhost"
    # A chat state in the archive is not a message.
    state = result(
        "<message xmlns='jabber:client' from='bob@localhost/pc' type='chat'>"
        "<composing xmlns='http://jabber.org/protocol/chatstates'/></message>"
    )
    assert archived_send(state, "alice@localhost", ctx) is None
