"""The per-platform validation cases (see ``validation_cases.py``): XMPP, IRC, feeds, metadata.

Some cases pin down how a rule is translated to JSON Schema rather than what we would wish
it to be; those say so in their name ("as declared").
"""

from __future__ import annotations

from typing import Any

from envelopes.errors import InvalidEnvelope, UnknownVerb

from .dav_cases import DAV
from .validation_cases import Case, env

__all__ = ["XMPP", "IRC", "FEEDS", "METADATA", "PLATFORM_CASES"]

ME = {"id": "alice@example.org", "type": "person", "name": "Alice"}
ROOM = {"id": "room@conference.example.org", "type": "room", "name": "room"}
CREDS = {
    "type": "credentials",
    "userAddress": "alice@example.org",
    "password": "pw",
    "resource": "web",
}
PERSON = {"id": "bob@example.org", "type": "person"}
XMSG = {"type": "message", "content": "hi", "xmpp:replace": {"id": "m1"}}
TYPING = {"type": "typing", "state": "composing"}
RECEIPT = {"type": "receipt", "id": "m1", "status": "delivered"}
REACTION = {"type": "reaction", "inReplyTo": "m1", "content": "👍"}


def x(verb: str, **parts: Any) -> dict:
    return env(verb, "xmpp", actor=ME, **parts)


def xbad(name: str, activity: dict, path: str) -> Case:
    return Case(name, activity, InvalidEnvelope, path)


XMPP: list[Case] = [
    Case(
        "xmpp credentials",
        x(
            "credentials",
            object={**CREDS, "server": "xmpp.example.org", "port": 5223, "allowInvalidCert": False},
        ),
    ),
    xbad(
        "xmpp full JID",
        x("credentials", object={**CREDS, "userAddress": "alice@example.org/web"}),
        "object.userAddress",
    ),
    xbad(
        "xmpp no resource",
        x("credentials", object={k: v for k, v in CREDS.items() if k != "resource"}),
        "object.resource",
    ),
    xbad("xmpp tls", x("credentials", object={**CREDS, "tls": False}), "object.tls"),
    xbad("xmpp port a string", x("credentials", object={**CREDS, "port": "5222"}), "object.port"),
    Case("xmpp send a correction", x("send", target=ROOM, object=XMSG)),
    xbad(
        "xmpp send empty",
        x("send", target=ROOM, object={"type": "message", "content": ""}),
        "object.content",
    ),
    xbad(
        "xmpp send to an occupant",
        x(
            "send",
            target={**ROOM, "id": "room@conference.example.org/nick"},
            object={"type": "message", "content": "x"},
        ),
        "target.id",
    ),
    xbad(
        "xmpp replace unknown field",
        x("send", target=ROOM, object={**XMSG, "xmpp:replace": {"id": "m1", "x": 1}}),
        "object.xmpp:replace.x",
    ),
    Case(
        "xmpp presence",
        x("update", object={"type": "presence", "presence": "dnd", "content": "busy"}),
    ),
    xbad("xmpp presence missing", x("update", object={"type": "presence"}), "object.presence"),
    xbad(
        "xmpp presence invisible",
        x("update", object={"type": "presence", "presence": "invisible"}),
        "object.presence",
    ),
    Case("xmpp topic", x("update", target=ROOM, object={"type": "topic", "content": "news"})),
    Case("xmpp typing to a person", x("typing", target=PERSON, object=TYPING)),
    Case("xmpp typing in a room", x("typing", target=ROOM, object={**TYPING, "state": "paused"})),
    xbad(
        "xmpp typing unknown state",
        x("typing", target=PERSON, object={**TYPING, "state": "thinking"}),
        "object.state",
    ),
    xbad("xmpp typing without target", x("typing", object=TYPING), "target"),
    Case("xmpp receipt", x("receipt", target=PERSON, object=RECEIPT)),
    xbad(
        "xmpp receipt without id",
        x("receipt", target=PERSON, object={"type": "receipt", "status": "delivered"}),
        "object.id",
    ),
    # A delivered receipt to a room passes the schema (the target may be a room for a read
    # marker) and is refused by the connector (outbound.receipt_stanza: target.type).
    Case(
        "xmpp read marker in a room",
        x("receipt", target=ROOM, object={**RECEIPT, "status": "read"}),
    ),
    Case("xmpp read marker", x("receipt", target=PERSON, object={**RECEIPT, "status": "read"})),
    xbad(
        "xmpp receipt of an unknown status",
        x("receipt", target=PERSON, object={**RECEIPT, "status": "seen"}),
        "object.status",
    ),
    Case(
        "xmpp reply",
        x("send", target=ROOM, object={"type": "message", "content": "yes", "inReplyTo": "m1"}),
    ),
    Case("xmpp reaction", x("react", target=PERSON, object=REACTION)),
    Case("xmpp reaction removed", x("react", target=ROOM, object={**REACTION, "remove": True})),
    xbad(
        "xmpp reaction without its message",
        x("react", target=PERSON, object={"type": "reaction", "content": "👍"}),
        "object.inReplyTo",
    ),
    xbad(
        "xmpp reaction of many words",
        x("react", target=PERSON, object={**REACTION, "content": " a b "}),
        "object.content",
    ),
    Case("xmpp retraction", x("delete", target=PERSON, object={"type": "message", "id": "m1"})),
    xbad(
        "xmpp retraction without id",
        x("delete", target=ROOM, object={"type": "message"}),
        "object.id",
    ),
    Case("xmpp profile", x("query", target=PERSON, object={"type": "profile"})),
    Case(
        "xmpp our avatar",
        x("update", object={"type": "profile", "image": "data:image/png;base64,aGk="}),
    ),
    Case("xmpp our avatar removed", x("update", object={"type": "profile", "image": ""})),
    xbad(
        "xmpp avatar as svg",
        x("update", object={"type": "profile", "image": "data:image/svg+xml;base64,aGk="}),
        "object.image",
    ),
    xbad(
        "xmpp profile update without image", x("update", object={"type": "profile"}), "object.image"
    ),
    xbad(
        "xmpp topic with presence",
        x("update", target=ROOM, object={"type": "topic", "presence": "away"}),
        "object.presence",
    ),
    Case("xmpp roster", x("query", object={"type": "roster"})),
    Case("xmpp room-info", x("query", target=ROOM, object={"type": "room-info"})),
    xbad("xmpp query members", x("query", target=ROOM, object={"type": "members"}), "object.type"),
    Case(
        "xmpp request-friend",
        x("request-friend", target=PERSON, object={"type": "message", "content": "hi"}),
    ),
    xbad("xmpp make-friend with a room", x("make-friend", target=ROOM), "target.type"),
    xbad("xmpp join without target", x("join"), "target"),
    xbad(
        "xmpp password with a control",
        x("credentials", object={**CREDS, "password": "p\x01w"}),
        "object.password",
    ),
    xbad(
        "xmpp password with a final newline",
        x("credentials", object={**CREDS, "password": "pw\n"}),
        "object.password",
    ),
    xbad(
        "xmpp JID with a space",
        x(
            "send",
            target={**PERSON, "id": "bo b@example.org"},
            object={"type": "message", "content": "x"},
        ),
        "target.id",
    ),
    xbad(
        "xmpp JID with NEL",
        x(
            "send",
            target={**PERSON, "id": "bo\x85b@example.org"},
            object={"type": "message", "content": "x"},
        ),
        "target.id",
    ),
    Case(
        "xmpp JID with a BOM (not Python whitespace)",
        x(
            "send",
            target={**PERSON, "id": "bo\ufeffb@example.org"},
            object={"type": "message", "content": "x"},
        ),
    ),
    xbad("xmpp connect with an object", x("connect", object={"type": "message"}), "object"),
]

NICK = {"id": "me@irc.example", "type": "person", "name": "me"}
ICREDS = {"type": "credentials", "nick": "me", "server": "irc.example"}
CHAN = {"id": "#room@irc.example", "type": "room", "name": "#room"}
REACTION = {"type": "reaction", "inReplyTo": "m1", "content": "👍"}


IRC_BOB = {"id": "bob@irc.example.net", "type": "person", "name": "bob"}


def i(verb: str, **parts: Any) -> dict:
    return env(verb, "irc", actor=NICK, **parts)


READ = {"type": "receipt", "id": "m1", "status": "read"}

IRC: list[Case] = [
    Case("irc read marker in a channel", i("receipt", target=CHAN, object=READ)),
    Case("irc read marker of a private chat", i("receipt", target=NICK, object=READ)),
    Case(
        "irc has no delivery receipts",
        i("receipt", target=CHAN, object={**READ, "status": "delivered"}),
        InvalidEnvelope,
        "object.status",
    ),
    Case(
        "irc read marker names its message",
        i("receipt", target=CHAN, object={"type": "receipt", "status": "read"}),
        InvalidEnvelope,
        "object.id",
    ),
    Case(
        "irc credentials",
        i("credentials", object={**ICREDS, "port": 6697, "secure": True, "password": "pw"}),
    ),
    Case(
        "irc secure 'yes', as marshmallow reads booleans",
        i("credentials", object={**ICREDS, "secure": "yes"}),
    ),
    Case(
        "irc secure 1, as marshmallow reads booleans",
        i("credentials", object={**ICREDS, "secure": 1}),
    ),
    Case(
        "irc secure null refused",
        i("credentials", object={**ICREDS, "secure": None}),
        InvalidEnvelope,
        "object.secure",
    ),
    Case(
        "irc secure 'maybe' refused",
        i("credentials", object={**ICREDS, "secure": "maybe"}),
        InvalidEnvelope,
        "object.secure",
    ),
    Case(
        "irc port 0", i("credentials", object={**ICREDS, "port": 0}), InvalidEnvelope, "object.port"
    ),
    Case(
        "irc port 65536",
        i("credentials", object={**ICREDS, "port": 65536}),
        InvalidEnvelope,
        "object.port",
    ),
    Case(
        "irc port true",
        i("credentials", object={**ICREDS, "port": True}),
        InvalidEnvelope,
        "object.port",
    ),
    Case(
        "irc nick with CR",
        i("credentials", object={**ICREDS, "nick": "m\re"}),
        InvalidEnvelope,
        "object.nick",
    ),
    Case(
        "irc nick with a final newline",
        i("credentials", object={**ICREDS, "nick": "me\n"}),
        InvalidEnvelope,
        "object.nick",
    ),
    Case(
        "irc nick with two final newlines",
        i("credentials", object={**ICREDS, "nick": "me\n\n"}),
        InvalidEnvelope,
        "object.nick",
    ),
    Case(
        "irc nick too long",
        i("credentials", object={**ICREDS, "nick": "n" * 65}),
        InvalidEnvelope,
        "object.nick",
    ),
    Case(
        "irc credentials without server",
        i("credentials", object={"type": "credentials", "nick": "me"}),
        InvalidEnvelope,
        "object.server",
    ),
    Case("irc connect", i("connect")),
    Case("irc join", i("join", target=CHAN)),
    Case("irc send", i("send", target=CHAN, object={"type": "message", "content": "hi"})),
    Case("irc send a notice", i("send", target=CHAN, object={"type": "notice", "content": "hi"})),
    Case(
        "irc send a reply",
        i("send", target=CHAN, object={"type": "message", "content": "hi", "inReplyTo": "m1"}),
    ),
    Case("irc typing", i("typing", target=CHAN, object={"type": "typing", "state": "paused"})),
    Case(
        "irc typing in an unknown state",
        i("typing", target=CHAN, object={"type": "typing", "state": "thinking"}),
        InvalidEnvelope,
        "object.state",
    ),
    Case("irc react", i("react", target=CHAN, object=REACTION)),
    Case("irc unreact", i("react", target=CHAN, object={**REACTION, "remove": True})),
    Case(
        "irc react without the message",
        i("react", target=CHAN, object={"type": "reaction", "content": "👍"}),
        InvalidEnvelope,
        "object.inReplyTo",
    ),
    Case("irc delete", i("delete", target=CHAN, object={"type": "message", "id": "m1"})),
    Case(
        "irc delete without an id",
        i("delete", target=CHAN, object={"type": "message"}),
        InvalidEnvelope,
        "object.id",
    ),
    Case(
        "irc send a topic",
        i("send", target=CHAN, object={"type": "topic", "content": "hi"}),
        InvalidEnvelope,
        "object.type",
    ),
    Case(
        "irc send nothing",
        i("send", target=CHAN, object={"type": "message"}),
        InvalidEnvelope,
        "object.content",
    ),
    Case(
        "irc send without target",
        i("send", object={"type": "message", "content": "hi"}),
        InvalidEnvelope,
        "target",
    ),
    Case(
        "irc update a topic", i("update", target=CHAN, object={"type": "topic", "content": "news"})
    ),
    Case("irc update without object", i("update", target=CHAN), InvalidEnvelope, "object"),
    Case("irc query attendance", i("query", target=CHAN, object={"type": "attendance"})),
    Case("irc away", i("update", object={"type": "presence", "presence": "away", "content": "x"})),
    Case("irc back", i("update", object={"type": "presence", "presence": "online"})),
    Case(
        "irc presence without a state",
        i("update", object={"type": "presence"}),
        InvalidEnvelope,
        "object.presence",
    ),
    Case(
        "irc presence not one of ours",
        i("update", object={"type": "presence", "presence": "asleep"}),
        InvalidEnvelope,
        "object.presence",
    ),
    Case(
        "irc a topic has no presence",
        i("update", target=CHAN, object={"type": "topic", "presence": "away"}),
        InvalidEnvelope,
        "object.presence",
    ),
    Case("irc real name", i("update", object={"type": "profile", "realName": "Ann E"})),
    Case(
        "irc profile without a real name",
        i("update", object={"type": "profile"}),
        InvalidEnvelope,
        "object.realName",
    ),
    Case(
        "irc watch someone",
        i("query", target=IRC_BOB, object={"type": "presence", "watch": False}),
    ),
    Case(
        "irc watch on attendance",
        i("query", target=CHAN, object={"type": "attendance", "watch": True}),
        InvalidEnvelope,
        "object.watch",
    ),
    Case(
        "irc query profile",
        i("query", target={"id": "bob@irc.example", "type": "person"}, object={"type": "profile"}),
    ),
    Case(
        "irc query rooms",
        i(
            "query",
            target={"id": "irc.example", "type": "service"},
            object={"type": "rooms", "search": "py", "cursor": "1:100", "limit": 500},
        ),
    ),
    Case(
        "irc query rooms over the page limit",
        i(
            "query",
            target={"id": "irc.example", "type": "service"},
            object={"type": "rooms", "limit": 501},
        ),
        InvalidEnvelope,
        "object.limit",
    ),
    Case(
        "irc query rooms searching with a newline",
        i(
            "query",
            target={"id": "irc.example", "type": "service"},
            object={"type": "rooms", "search": "a\nb"},
        ),
        InvalidEnvelope,
        "object.search",
    ),
    Case("irc observe", i("observe", target=CHAN), UnknownVerb, "type"),
]


def f(verb: str = "fetch", url: str = "https://example.org/feed.xml", **parts: Any) -> dict:
    return env(verb, "feeds", actor={"id": url, "type": "feed"}, **parts)


def feed_url(name: str, url: str, valid: bool) -> Case:
    return Case(
        f"feed url {name}",
        f(url=url),
        None if valid else InvalidEnvelope,
        None if valid else "actor.id",
    )


FEEDS: list[Case] = [
    Case("feeds fetch", f()),
    Case("feeds since and limit", f(object={"since": "2025-01-31T09:00:00Z", "limit": 5})),
    Case("feeds since with an offset", f(object={"since": "2025-01-31T09:00:00+01:00"})),
    Case(
        "feeds since without zone",
        f(object={"since": "2025-01-31T09:00:00"}),
        InvalidEnvelope,
        "object.since",
    ),
    Case("feeds since a date", f(object={"since": "2025-01-31"}), InvalidEnvelope, "object.since"),
    Case("feeds limit 0", f(object={"limit": 0}), InvalidEnvelope, "object.limit"),
    Case("feeds limit a string", f(object={"limit": "5"}), InvalidEnvelope, "object.limit"),
    Case("feeds object content", f(object={"content": "x"}), InvalidEnvelope, "object.content"),
    Case(
        "feeds actor a person",
        f() | {"actor": {"id": "https://e.org/", "type": "person"}},
        InvalidEnvelope,
        "actor.type",
    ),
    Case(
        "feeds credentials",
        env(
            "credentials",
            "feeds",
            actor={"id": "https://e.org/", "type": "feed"},
            object={"type": "credentials"},
        ),
        UnknownVerb,
        "type",
    ),
    Case("feeds follow", f("follow")),
    Case("feeds follow with a limit", f("follow", object={"limit": 5})),
    Case("feeds unfollow", f("unfollow")),
    Case(
        "feeds unfollow takes no object",
        f("unfollow", object={"limit": 5}),
        InvalidEnvelope,
        "object",
    ),
    Case(
        "feeds follow a person",
        f("follow") | {"actor": {"id": "https://e.org/", "type": "person"}},
        InvalidEnvelope,
        "actor.type",
    ),
    Case(
        "feeds opml-import",
        env("opml-import", "feeds", actor=ME, object={"type": "opml", "content": "<opml/>"}),
    ),
    Case(
        "feeds opml-import without content",
        env("opml-import", "feeds", actor=ME, object={"type": "opml"}),
        InvalidEnvelope,
        "object.content",
    ),
    Case(
        "feeds opml-import without object",
        env("opml-import", "feeds", actor=ME),
        InvalidEnvelope,
        "object",
    ),
    Case("feeds opml-export", env("opml-export", "feeds", actor=ME)),
    Case(
        "feeds opml-export of another type",
        env("opml-export", "feeds", actor=ME, object={"type": "rss"}),
        InvalidEnvelope,
        "object.type",
    ),
    feed_url("http", "http://example.org/", True),
    feed_url("upper-case scheme", "HTTPS://Example.org/a?b#c", True),
    feed_url("with user and port", "https://u:p@example.org:8080/x", True),
    feed_url("empty port", "https://example.org:/x", True),
    feed_url("port 65535", "https://example.org:65535", True),
    feed_url("port 65536", "https://example.org:65536/", False),
    feed_url("port letters", "https://example.org:80a/", False),
    feed_url("IPv6 literal", "http://[::1]:8080/feed", True),
    feed_url("ftp", "ftp://example.org/feed.xml", False),
    feed_url("no host", "https:///feed.xml", False),
    feed_url("no slashes", "https:example.org", False),
    feed_url("a space", "https://example.org/a b", False),
    feed_url("a tab", "https://example.org/a\tb", False),
    feed_url("an ideographic space", "https://example.org/a\u3000b", False),
    feed_url("DEL", "https://example.org/a\x7f", False),
    feed_url("only a port", "https://:80/", False),
    feed_url("unbalanced bracket", "https://exa]mple.org/", False),
    feed_url("relative", "/feed.xml", False),
    feed_url("too long", "https://example.org/" + "a" * 2100, False),
]


def m(**parts: Any) -> dict:
    return env(
        "fetch", "metadata", actor={"id": "https://example.org/page", "type": "website"}, **parts
    )


METADATA: list[Case] = [
    Case("metadata fetch", m()),
    Case(
        "metadata fetch named",
        m() | {"actor": {"id": "https://example.org/", "type": "website", "name": "Ex"}},
    ),
    Case("metadata with an object", m(object={"type": "page"}), InvalidEnvelope, "object"),
    Case(
        "metadata with a target", m(target={"id": "x", "type": "person"}), InvalidEnvelope, "target"
    ),
    Case(
        "metadata of a feed",
        m() | {"actor": {"id": "https://example.org/", "type": "feed"}},
        InvalidEnvelope,
        "actor.type",
    ),
]

PLATFORM_CASES: list[Case] = [*XMPP, *IRC, *FEEDS, *METADATA, *DAV]
