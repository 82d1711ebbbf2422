"""XEP-0402 bookmarks as our server answers them: which rooms, with which nick, autojoin."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from connectors.xmpp.bookmarks import Bookmark, bookmarks_query, read_bookmarks

ANSWER = """<iq xmlns="jabber:client" type="result" id="b1">
<pubsub xmlns="http://jabber.org/protocol/pubsub"><items node="urn:xmpp:bookmarks:1">
<item id="lobby@conference.localhost"><conference xmlns="urn:xmpp:bookmarks:1"
  autojoin="true" name="The lobby"><nick>Caro</nick></conference></item>
<item id="quiet@conference.localhost"><conference xmlns="urn:xmpp:bookmarks:1"/></item>
<item id="one@conference.localhost"><conference xmlns="urn:xmpp:bookmarks:1" autojoin="1"/></item>
<item id="room@conference.localhost/nick"><conference xmlns="urn:xmpp:bookmarks:1"/></item>
<item id="conference.localhost"><conference xmlns="urn:xmpp:bookmarks:1"/></item>
<item id="x@conference.localhost"><something xmlns="urn:example"/></item>
</items></pubsub></iq>"""


def test_bookmarks_read_from_the_answer():
    assert read_bookmarks(ET.fromstring(ANSWER)) == [
        Bookmark("lobby@conference.localhost", "The lobby", "Caro", True),
        Bookmark("quiet@conference.localhost", "quiet", "", False),  # autojoin defaults off
        Bookmark("one@conference.localhost", "one", "", True),  # xs:boolean "1"
    ]  # a full JID, a domain and a non-bookmark item are not rooms


def test_the_query_asks_for_the_bookmarks_node():
    items = bookmarks_query().find("{http://jabber.org/protocol/pubsub}items")
    assert items is not None and items.get("node") == "urn:xmpp:bookmarks:1"
