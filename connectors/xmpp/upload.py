"""HTTP File Upload (XEP-0363) and the link a message carries (XEP-0066), pure parts.

The ``upload`` verb finds the server's upload service (disco#items of our domain, then
disco#info of each for ``urn:xmpp:http:upload:0``, with its ``max-file-size``, §3),
asks it for a slot (§4), and passes the slot's PUT URL through the address guard before
anyone uploads to it. The upload itself is the gateway's and a worker's
(``envelopes/uploads.py``, ``tasks/uploads.py``): the browser never talks to the upload
server.

    slot request    <iq type="get" to=service><request xmlns=urn:xmpp:http:upload:0
                    filename size content-type/></iq>
    slot            <slot><put url><header name>…</header></put><get url/></slot>
    a link          <x xmlns="jabber:x:oob"><url/>[<desc/>]</x> (XEP-0066 §3), with the
                    URL as the body, as clients that show it inline expect
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from envelopes.errors import BlockedAddress, ProtocolError

from ..net.guard import Resolver, resolve_checked, system_resolver

__all__ = [
    "OOB_NS",
    "UPLOAD_NS",
    "attachment_of",
    "check_slot_url",
    "max_file_size",
    "oob_element",
    "read_slot",
    "slot_request",
]

UPLOAD_NS = "urn:xmpp:http:upload:0"
OOB_NS = "jabber:x:oob"
_DISCO_INFO = "http://jabber.org/protocol/disco#info"
_DATA = "jabber:x:data"
# §5: the only headers a client passes on from a slot; others are dropped.
_PASSED = {"authorization": "Authorization", "cookie": "Cookie", "expires": "Expires"}
_MAX_URL = 4096


def offers_upload(info: ET.Element) -> bool:
    """Whether a disco#info answer lists the upload feature."""
    return any(f.get("var") == UPLOAD_NS for f in info.iter(f"{{{_DISCO_INFO}}}feature"))


def max_file_size(info: ET.Element) -> int | None:
    """The service's ``max-file-size`` (XEP-0363 §3, its XEP-0128 form), if it says."""
    for form in info.iter(f"{{{_DATA}}}x"):
        fields = {f.get("var"): f for f in form.iter(f"{{{_DATA}}}field")}
        kind = fields.get("FORM_TYPE")
        if kind is None or kind.findtext(f"{{{_DATA}}}value") != UPLOAD_NS:
            continue
        size = fields.get("max-file-size")
        text = size.findtext(f"{{{_DATA}}}value") if size is not None else None
        if text and text.strip().isdigit():
            return int(text.strip())
    return None


def slot_request(name: str, size: int, media_type: str) -> ET.Element:
    return ET.Element(
        f"{{{UPLOAD_NS}}}request",
        {"filename": name, "size": str(size), "content-type": media_type},
    )


def _url(value: str | None, what: str) -> str:
    url = (value or "").strip()
    if not url or len(url) > _MAX_URL or urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ProtocolError(f"the upload service gave no usable {what} URL")
    return url


def read_slot(answer: ET.Element) -> dict[str, Any]:
    """``{"put", "headers", "get"}`` from the slot answer (§4); ``ProtocolError`` if it
    has no http(s) URLs."""
    slot = answer.find(f".//{{{UPLOAD_NS}}}slot")
    if slot is None:
        raise ProtocolError("the upload service answered without a slot")
    put, get = slot.find(f"{{{UPLOAD_NS}}}put"), slot.find(f"{{{UPLOAD_NS}}}get")
    headers: dict[str, str] = {}
    for header in put.iter(f"{{{UPLOAD_NS}}}header") if put is not None else []:
        name = _PASSED.get(str(header.get("name") or "").lower())
        value = " ".join((header.text or "").split())  # no line breaks into our request
        if name and value:
            headers[name] = value
    return {
        "put": _url(put.get("url") if put is not None else None, "upload"),
        "headers": headers,
        "get": _url(get.get("url") if get is not None else None, "download"),
    }


def check_slot_url(url: str, allow_private: bool, resolver: Resolver = system_resolver) -> None:
    """The guard, before the browser sends a byte: every address of the PUT URL's host
    must be one a browser may aim us at (``BlockedAddress`` naming it otherwise). The
    HTTP client checks again when it connects."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError:
        raise BlockedAddress(f"the upload slot's URL has a bad port: {url}") from None
    try:
        resolve_checked(parts.hostname or "", port, allow_private, resolver=resolver)
    except BlockedAddress as exc:
        raise BlockedAddress(f"the server's upload slot is refused: {exc.message}") from None


def oob_element(attachment: Mapping[str, Any]) -> ET.Element:
    x = ET.Element(f"{{{OOB_NS}}}x")
    ET.SubElement(x, f"{{{OOB_NS}}}url").text = str(attachment["url"])
    if attachment.get("name"):
        ET.SubElement(x, f"{{{OOB_NS}}}desc").text = str(attachment["name"])
    return x


def attachment_of(message: ET.Element) -> dict[str, Any] | None:
    """The link of an incoming message (XEP-0066), as the ``attachment`` we send."""
    x = message.find(f"{{{OOB_NS}}}x")
    url = (x.findtext(f"{{{OOB_NS}}}url") or "").strip() if x is not None else ""
    if not url or len(url) > _MAX_URL:
        return None
    out: dict[str, Any] = {"type": "file", "url": url}
    desc = (x.findtext(f"{{{OOB_NS}}}desc") or "").strip() if x is not None else ""
    if desc:
        out["name"] = desc[:255]
    return out
