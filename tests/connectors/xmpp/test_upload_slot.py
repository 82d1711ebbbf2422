"""XEP-0363 slots and XEP-0066 links, the pure parts (connectors/xmpp/upload.py): what
is read from a slot, which headers are passed on, and the guard on the slot's URL."""

from __future__ import annotations

import asyncio
import concurrent.futures
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from typing import Any

import pytest

from connectors.base import Job
from connectors.net.guard import StaticResolver
from connectors.xmpp.outbound import message_stanza
from connectors.xmpp.slots import upload
from connectors.xmpp.upload import (
    attachment_of,
    check_slot_url,
    max_file_size,
    offers_upload,
    read_slot,
)
from envelopes.errors import BlockedAddress, ProtocolError, Refused, TooLarge
from envelopes.settings import Settings
from envelopes.uploads import MemoryOffers

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


def _run(coro):
    """On a loop of its own thread: a test before this one (the browser tests' Playwright)
    may leave a loop running in the main thread, where ``asyncio.run`` refuses to start."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


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


class _Iq:
    def __init__(self, stype: str, sto: str):
        self.to, self.parts = sto, []

    def enable(self, name: str) -> None:
        self.parts.append(name)

    def append(self, el: ET.Element) -> None:
        self.parts.append(el.tag)


ITEMS = """<iq xmlns="jabber:client" type="result">
<query xmlns="http://jabber.org/protocol/disco#items">
<item jid="conference.example.org"/><item jid="upload.example.org"/></query></iq>"""
NO_FEATURES = """<iq xmlns="jabber:client" type="result">
<query xmlns="http://jabber.org/protocol/disco#info"/></iq>"""


def _connector(answers: dict[tuple[str, str], str], **settings: Any) -> Any:
    """The connector's parts ``slots.upload`` uses, the server's answers canned."""
    asked: list[tuple[str, str]] = []

    async def iq(request: _Iq, timeout: float, what: str) -> ET.Element:
        key = (request.to, str(request.parts[0]))
        asked.append(key)
        return ET.fromstring(answers.get(key, NO_FEATURES))

    up = SimpleNamespace(
        domain="example.org",
        xmpp=SimpleNamespace(Iq=_Iq),
        iq=iq,
        resolver=StaticResolver({"upload.example": ["93.184.216.34"]}),
    )
    conn = SimpleNamespace(
        settings=Settings(**settings),
        runtime=SimpleNamespace(call=lambda job, coro: _run(coro)),
        uploads=MemoryOffers(),
        upload_services={},
        _up=lambda job: up,
        asked=asked,
    )
    return conn


def _job(size: int) -> Job:
    obj = {"type": "file", "name": "a.png", "size": size, "mediaType": "image/png"}
    return Job("upload", {"type": "upload", "object": obj}, session="s" * 22)


def test_the_upload_verb_finds_the_service_checks_sizes_and_offers_the_slot() -> None:
    answers = {
        ("example.org", "disco_items"): ITEMS,
        ("upload.example.org", "disco_info"): INFO,
        ("upload.example.org", f"{{{NS}}}request"): SLOT,
    }
    conn = _connector(answers, upload_max_bytes=8 * 1024 * 1024)
    done = upload(conn, _job(1000))
    url = done["object"]["upload"]["url"]
    assert url.startswith("/sockethub-upload/") and done["object"]["size"] == 1000
    ((sid, platform, size, slot),) = conn.uploads.offered.values()
    assert (sid, platform, size) == ("s" * 22, "xmpp", 1000)
    assert slot["put"].startswith("https://upload.example/") and slot["name"] == "a.png"
    assert list(conn.uploads.offered) == [url.rsplit("/", 1)[1]]

    # Over the service's max-file-size (5 MiB): refused before a slot is asked for.
    asked = len(conn.asked)
    with pytest.raises(TooLarge, match="upload.example.org accepts at most 5242880"):
        upload(conn, _job(5242881))
    assert len(conn.asked) == asked  # the service was remembered, nothing asked
    # Over the setting: refused before the server is asked anything.
    small = _connector(answers, upload_max_bytes=100)
    with pytest.raises(TooLarge, match="SOCKETHUB_UPLOAD_MAX_BYTES"):
        upload(small, _job(101))
    assert small.asked == []


def test_a_server_without_an_upload_service_is_a_clear_refusal() -> None:
    conn = _connector({("example.org", "disco_items"): ITEMS})
    with pytest.raises(Refused, match="offers no HTTP file upload") as refused:
        upload(conn, _job(10))
    assert refused.value.details[0]["condition"] == "feature-not-implemented"


def test_a_slot_on_a_private_address_is_refused_before_the_browser_sends_a_byte() -> None:
    inside = SLOT.replace("https://upload.example/", "http://10.0.0.7/")
    answers = {
        ("example.org", "disco_items"): ITEMS,
        ("upload.example.org", "disco_info"): INFO,
        ("upload.example.org", f"{{{NS}}}request"): inside,
    }
    with pytest.raises(BlockedAddress, match="upload slot is refused"):
        upload(_connector(answers), _job(10))
    assert upload(_connector(answers, allow_private_addresses=True), _job(10))["object"]["upload"]
