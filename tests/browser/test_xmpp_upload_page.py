"""The XMPP page's Upload button in headless Chromium: a file picked in a real file input
goes through the gateway to Prosody's upload service (XEP-0363), and the message with its
link reaches an independent client (XEP-0066)."""

from __future__ import annotations

import os
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import expect

from ..servers.prosody import XmppServer
from ..servers.xmpppeer import PlainClient
from ..stack import Stack
from .test_xmpp_page import bob, log_in, log_line, xmpp_server, xmpp_stack

__all__ = ["bob", "xmpp_server", "xmpp_stack"]  # the fixtures, shared

pytestmark = [pytest.mark.browser, pytest.mark.integration]

OOB = "{jabber:x:oob}"


def test_a_picked_file_is_uploaded_and_its_link_sent(
    page: Any, xmpp_stack: Stack, xmpp_server: XmppServer, bob: PlainClient
) -> None:
    log_in(page, xmpp_stack, xmpp_server)
    page.fill("#address", xmpp_server.jid("bob"))
    page.click("#chat")
    data = os.urandom(300_000)
    with page.expect_file_chooser() as chooser:
        page.click("#upload")
    chooser.value.set_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": data})

    got = bob.wait_for(lambda s: s.name == "message" and s.xml.find(f"{OOB}x") is not None)
    url = got.xml.findtext(f"{OOB}x/{OOB}url")
    assert url and url.endswith("/notes.txt") and got["body"] == url, got
    assert got.xml.findtext(f"{OOB}x/{OOB}desc") == "notes.txt"
    with urllib.request.urlopen(url, timeout=10) as fetched:
        assert fetched.read() == data  # the very bytes, from the upload server
    mine = log_line(page, url)
    expect(mine).to_have_attribute("data-status", "completed")
