"""XEP-0363 slots and XEP-0066 links, the pure parts (connectors/xmpp/upload.py): what
is read from a slot, which headers are passed on, and the guard on the slot's URL."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from connectors.net.guard import StaticResolver
from connectors.xmpp.outbound import message_stanza
from connectors.xmpp.upload import (
    attachment_of,
    check_slot_url,
    max_file_size,
    offers_upload,
    read_slot,
)
from envelopes.errors import BlockedAddress, ProtocolError

NS = "urn:xmpp:http:upload:0"
SLOT = f"""<iq xmlns="jabber:client" type="result"><slot xmlns="{NS}">
<put url="https://upload.example/put/abc/a%20b.png">
  <header name="Authorization">Bearer tok
en</header>
  <header name="Cookie">foo=bar</header>
  <header name="Host">evil.example</header>
  <header name="X-Other">no</header>
</put>
<get url="https://download.example/get/abc/a%20b.png"/>
</slot></iq>"""
INFO = f"""<iq xmlns="jabber:client" type="result">
<query xmlns="http://jabber.org/protocol/disco#info">
<identity category="store" type="file"/><feature var="{NS}"/>
<x xmlns="jabber:x:data" type="result">
<field var="FORM_TYPE" type="hidden"><value>{NS}</value></field>
<field var="max-file-size"><value>5242880</value></field></x></query></iq>"""


def test_a_slot_passes_on_only_the_headers_xep_0363_allows() -> None:
    slot = read_slot(ET.fromstring(SLOT))
    assert slot == {
        "put": "https://upload.example/put/abc/a%20b.png",
        "get": "https://download.example/get/abc/a%20b.png",
        # §5: Authorization, Cookie, Expires only; no line break reaches our request.
        "headers": {"Authorization": "Bearer tok en", "Cookie": "foo=bar"},
    }
    info = ET.fromstring(INFO)
    assert offers_upload(info) and max_file_size(info) == 5242880


@pytest.mark.parametrize(
    "bad",
    [
        f'<iq xmlns="jabber:client"><slot xmlns="{NS}"><put url="file:///etc/passwd"/>'
        f'<get url="https://d.example/x"/></slot></iq>',
        f'<iq xmlns="jabber:client"><slot xmlns="{NS}"><put url="https://u.example/x"/></slot></iq>',
        '<iq xmlns="jabber:client"/>',
    ],
)
def test_a_slot_without_http_urls_is_a_protocol_error(bad: str) -> None:
    with pytest.raises(ProtocolError):
        read_slot(ET.fromstring(bad))


def test_the_guard_refuses_a_slot_on_a_private_address_unless_allowed() -> None:
    resolver = StaticResolver({"upload.example": ["93.184.216.34"], "inside.example": ["10.1.2.3"]})
    check_slot_url("https://upload.example/put/x", False, resolver)
    for url in (
        "https://inside.example/put/x",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:5280/file_share/x",
    ):
        with pytest.raises(BlockedAddress) as refused:
            check_slot_url(url, False, resolver)
        assert "upload slot is refused" in refused.value.message
        assert "SOCKETHUB_ALLOW_PRIVATE_ADDRESSES" in refused.value.message
    check_slot_url("https://inside.example/put/x", True, resolver)  # the operator allowed it
    check_slot_url("http://127.0.0.1:5280/file_share/x", True, resolver)


def test_a_link_goes_out_as_the_body_and_xep_0066_and_comes_back() -> None:
    url = "https://download.example/get/abc/a.png"
    activity = {
        "target": {"type": "person", "id": "bob@example.org"},
        "object": {"type": "message", "attachment": {"type": "file", "url": url, "name": "a.png"}},
    }
    msg = message_stanza(activity, "m1")
    assert msg.findtext("{jabber:client}body") == url
    assert msg.findtext("{jabber:x:oob}x/{jabber:x:oob}url") == url
    assert msg.findtext("{jabber:x:oob}x/{jabber:x:oob}desc") == "a.png"
    assert attachment_of(msg) == {"type": "file", "url": url, "name": "a.png"}
