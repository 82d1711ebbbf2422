"""The WebDAV XML we send and read (RFC 4918 §14, CalDAV RFC 4791 §9, CardDAV RFC 6352 §10).

Bodies are built from fixed templates with every text value escaped. Answers are parsed
with ``defusedxml``: a DOCTYPE, an entity or an external reference is refused outright
(no entity expansion, no billion laughs), and so is anything that is not a multistatus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from envelopes.errors import UpstreamError, condition_detail

__all__ = ["NS", "Entry", "propfind", "parse_multistatus", "tag", "text_of", "escape", "quoteattr"]

NS = {
    "d": "DAV:",
    "c": "urn:ietf:params:xml:ns:caldav",
    "card": "urn:ietf:params:xml:ns:carddav",
    "ical": "http://apple.com/ns/ical/",
}
_DECLS = " ".join(f'xmlns:{k}="{v}"' for k, v in NS.items())


def tag(name: str) -> str:
    """``"d:href"`` → ElementTree's ``"{DAV:}href"``."""
    prefix, _, local = name.partition(":")
    return f"{{{NS[prefix]}}}{local}"


def text_of(element: Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def propfind(props: list[str]) -> bytes:
    inner = "".join(f"<{p}/>" for p in props)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f"<d:propfind {_DECLS}><d:prop>{inner}</d:prop></d:propfind>"
    ).encode()


def report(root: str, props: list[str], body: str) -> bytes:
    """A REPORT (``c:calendar-query``, ``card:addressbook-query``) asking for ``props``."""
    inner = "".join(f"<{p}/>" for p in props)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>'
        f"<{root} {_DECLS}><d:prop>{inner}</d:prop>{body}</{root}>"
    ).encode()


@dataclass
class Entry:
    """One ``d:response``: its href and the properties found (status 200) by Clark name."""

    href: str
    status: int | None = None  # a response-level status (404 for a gone member), if any
    props: dict[str, Element] = field(default_factory=dict)

    def text(self, name: str) -> str:
        return text_of(self.props.get(tag(name)))


def _status(element: Element | None) -> int | None:
    words = text_of(element).split()
    if len(words) >= 2 and words[1].isdigit():
        return int(words[1])
    return None


def parse_multistatus(body: bytes, where: str, platform: str) -> list[Entry]:
    def bad(why: str) -> UpstreamError:
        return UpstreamError(
            f"cannot read the answer of {where}: {why}",
            details=[condition_detail(platform, "invalid-response")],
        )

    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except DefusedXmlException:
        raise bad("it holds a DOCTYPE or entities, which are refused") from None
    except SafeET.ParseError as exc:
        raise bad(f"not well-formed XML ({exc})") from None
    if root.tag != tag("d:multistatus"):
        raise bad("not a WebDAV multistatus")
    out: list[Entry] = []
    for response in root.findall(tag("d:response")):
        href = text_of(response.find(tag("d:href")))
        if not href:
            continue
        entry = Entry(href, _status(response.find(tag("d:status"))))
        for propstat in response.findall(tag("d:propstat")):
            if _status(propstat.find(tag("d:status"))) != 200:
                continue
            for prop in propstat.findall(tag("d:prop")):
                for child in prop:
                    entry.props[child.tag] = child
        out.append(entry)
    return out
