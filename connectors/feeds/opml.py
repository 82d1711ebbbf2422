"""OPML 2.0 subscription lists, read and written: the feeds a session follows.

Pure: standard library ``xml.etree``. Python's expat refuses external entities and, from
expat 2.4, entity expansion attacks; the text given is capped by the frame size anyway.
Every ``<outline>`` with an ``xmlUrl`` at any depth is a feed (folders are flattened);
relative URLs, which OPML 2.0 does not allow, are refused with the rest that is not an
http(s) URL.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from email.utils import formatdate

from envelopes.errors import InvalidEnvelope

__all__ = ["read_opml", "write_opml", "MAX_OUTLINES"]

MAX_OUTLINES = 10_000  # what one list may name; the per-session cap binds first


def read_opml(text: str) -> list[tuple[str, str]]:
    """``(xmlUrl, title)`` of every feed outline, in document order, without repeats.
    Raises ``InvalidEnvelope`` (at ``object.content``) when it is not OPML."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise InvalidEnvelope(
            f"object.content is not an OPML document: {exc}", path="object.content"
        ) from None
    if root.tag != "opml":
        raise InvalidEnvelope(
            f"object.content is not an OPML document (its root is <{root.tag[:40]}>)",
            path="object.content",
        )
    out: dict[str, str] = {}
    for node in root.iter("outline"):
        url = (node.get("xmlUrl") or "").strip()
        if url and url not in out:
            out[url] = node.get("title") or node.get("text") or ""
        if len(out) > MAX_OUTLINES:
            raise InvalidEnvelope(
                f"the OPML list names more than {MAX_OUTLINES} feeds", path="object.content"
            )
    return list(out.items())


def write_opml(feeds: Iterable[tuple[str, str]], title: str = "Followed feeds") -> str:
    """An OPML 2.0 document of ``(xmlUrl, title)``."""
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = title
    ET.SubElement(head, "dateCreated").text = formatdate(usegmt=True)
    body = ET.SubElement(root, "body")
    for url, name in feeds:
        ET.SubElement(body, "outline", type="rss", text=name or url, title=name or url, xmlUrl=url)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")
