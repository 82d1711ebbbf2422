"""``query`` ``{type: profile}`` of a person: their vCard4 (XEP-0292) and avatar (XEP-0084),
else their vCard-temp (XEP-0054, with the XEP-0153 photo), in the shared profile shape
(and ``update`` ``{type: profile, image}``: our own avatar, ``publish_avatar``)::

    query  actor person (them)  target person (us)
           object {type: profile, name, realName?, url?, note?, email?,
                   image?: "data:image/png;base64,..." | "https://...",
                   xmpp:image-omitted?: why there is no image although they have one}

``name`` is the vCard's nickname, else the JID's localpart; ``realName`` its ``fn``. The
avatar is read from the metadata node first (its ``bytes`` say whether it fits
``SOCKETHUB_XMPP_MAX_AVATAR_BYTES`` before a byte of it is fetched), then the data node.
What a person has not published (or does not let us read) is simply absent. The readers
are pure; ``profile`` runs on the worker's loop.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import xml.etree.ElementTree as ET
from typing import Any

from envelopes.errors import SockethubError, TooLarge, TransientError

from ..session.activity import activity
from .client import XmppUpstream
from .ids import person, split_jid

__all__ = ["avatar_info", "profile", "publish_avatar", "read_vcard4", "read_vcard_temp"]

PUBSUB = "http://jabber.org/protocol/pubsub"
VCARD4 = "urn:ietf:params:xml:ns:vcard-4.0"
VCARD4_NODE = "urn:xmpp:vcard4"
META, DATA = "urn:xmpp:avatar:metadata", "urn:xmpp:avatar:data"
VCARD_TEMP = "vcard-temp"
# Images a browser shows in <img> without running anything (no SVG: it can carry script).
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif")


def _text(el: ET.Element | None, path: str) -> str:
    found = el.find(path) if el is not None else None
    return (found.text or "").strip() if found is not None else ""


def read_vcard4(card: ET.Element | None) -> dict[str, str]:
    """The profile fields of a ``<vcard xmlns=urn:ietf:params:xml:ns:vcard-4.0>`` (RFC 6351)."""
    v = f"{{{VCARD4}}}"
    fields = {
        "name": _text(card, f"{v}nickname/{v}text"),
        "realName": _text(card, f"{v}fn/{v}text"),
        "url": _text(card, f"{v}url/{v}uri"),
        "note": _text(card, f"{v}note/{v}text"),
        "email": _text(card, f"{v}email/{v}text"),
    }
    return {k: value for k, value in fields.items() if value}


def read_vcard_temp(card: ET.Element | None) -> tuple[dict[str, str], str, str]:
    """``(fields, photo type, base64 photo)`` of a XEP-0054 ``<vCard/>``."""
    v = f"{{{VCARD_TEMP}}}"
    fields = {
        "name": _text(card, f"{v}NICKNAME"),
        "realName": _text(card, f"{v}FN"),
        "url": _text(card, f"{v}URL"),
        "note": _text(card, f"{v}DESC"),
        "email": _text(card, f"{v}EMAIL/{v}USERID"),
    }
    photo_type, photo = _text(card, f"{v}PHOTO/{v}TYPE"), _text(card, f"{v}PHOTO/{v}BINVAL")
    return {k: value for k, value in fields.items() if value}, photo_type, photo


def avatar_info(metadata: ET.Element | None) -> dict[str, str] | None:
    """The avatar to show from a XEP-0084 ``<metadata/>``: the first ``<info/>`` stored in
    PEP (no ``url``), else the first with an https ``url``; None when it names none
    (§4.2: an empty metadata element means the avatar was withdrawn)."""
    infos = [dict(i.attrib) for i in (metadata or []) if i.tag == f"{{{META}}}info"]
    for info in infos:
        if info.get("id") and not info.get("url"):
            return info
    for info in infos:
        if info.get("url", "").startswith("https://"):
            return info
    return None


def _items_iq(up: XmppUpstream, who: str, node: str, item: str = "") -> Any:
    assert up.xmpp is not None
    iq = up.xmpp.Iq(stype="get", sto=who)
    items = ET.SubElement(ET.SubElement(iq.xml, f"{{{PUBSUB}}}pubsub"), f"{{{PUBSUB}}}items")
    items.set("node", node)
    if item:
        ET.SubElement(items, f"{{{PUBSUB}}}item", id=item)
    else:
        items.set("max_items", "1")
    return iq


async def _payload(up: XmppUpstream, iq: Any, timeout: float, what: str) -> ET.Element | None:
    """The first item's payload, or None when there is none or it may not be read (a
    person who published nothing answers ``item-not-found``, a closed node ``forbidden``)."""
    try:
        answer = await up.iq(iq, timeout, what)
    except TransientError:
        raise  # the connection or the time is gone: the query fails with that
    except SockethubError:
        return None
    item = answer.find(f"{{{PUBSUB}}}pubsub/{{{PUBSUB}}}items/{{{PUBSUB}}}item")
    return item[0] if item is not None and len(item) else None


def _data_uri(kind: str, b64: str, limit: int) -> tuple[str, str]:
    """``(data: URI, "")`` or ``("", why not)``."""
    try:
        raw = base64.b64decode("".join(b64.split()), validate=True)
    except (binascii.Error, ValueError):
        return "", "the avatar is not valid base64"
    if len(raw) > limit:
        return "", _too_large(len(raw), limit)
    if kind not in IMAGE_TYPES:
        return "", f"the avatar's type {kind[:40]!r} is not one a page can safely show"
    return f"data:{kind};base64,{base64.b64encode(raw).decode()}", ""


def _too_large(size: int, limit: int) -> str:
    return f"the avatar is {size} bytes, more than SOCKETHUB_XMPP_MAX_AVATAR_BYTES ({limit})"


async def _avatar(up: XmppUpstream, who: str, timeout: float, limit: int) -> tuple[str, str]:
    info = avatar_info(await _payload(up, _items_iq(up, who, META), timeout, "avatar metadata"))
    if info is None:
        return "", ""
    if info.get("url"):
        return info["url"], ""
    if int(info.get("bytes") or 0) > limit:  # §4.2: the size is given; do not fetch it
        return "", _too_large(int(info["bytes"]), limit)
    data = await _payload(up, _items_iq(up, who, DATA, info["id"]), timeout, "the avatar")
    if data is None or data.tag != f"{{{DATA}}}data":
        return "", ""
    return _data_uri(info.get("type", ""), data.text or "", limit)


async def profile(up: XmppUpstream, who: str, timeout: float, limit: int) -> dict[str, Any]:
    """The profile of ``who`` (a bare JID): vCard4 and XEP-0084 first, vCard-temp next."""
    card = await _payload(up, _items_iq(up, who, VCARD4_NODE), timeout, "the vCard4")
    fields = read_vcard4(card)
    image, omitted = await _avatar(up, who, timeout, limit)
    if not fields or not (image or omitted):
        assert up.xmpp is not None
        iq = up.xmpp.Iq(stype="get", sto=who)
        ET.SubElement(iq.xml, f"{{{VCARD_TEMP}}}vCard")
        try:
            temp: ET.Element | None = (await up.iq(iq, timeout, "the vCard")).find(
                f"{{{VCARD_TEMP}}}vCard"
            )
        except TransientError:
            raise
        except SockethubError:
            temp = None
        more, kind, photo = read_vcard_temp(temp)
        fields = fields or more
        if photo and not (image or omitted):
            image, omitted = _data_uri(kind, photo, limit)
    obj: dict[str, Any] = {"type": "profile", "name": split_jid(who).local, **fields}
    if image:
        obj["image"] = image
    elif omitted:
        obj["xmpp:image-omitted"] = omitted
    return activity("xmpp", "query", person(who), person(up.jid), obj)


def _publish_iq(up: XmppUpstream, node: str, item_id: str, payload: ET.Element) -> Any:
    """XEP-0060 §7.1.5 publish with options: anyone may read it (XEP-0084 §4: an avatar
    is for everyone who sees us, not only contacts; what a ``profile`` query reads)."""
    assert up.xmpp is not None
    iq = up.xmpp.Iq(stype="set")
    ps = ET.SubElement(iq.xml, f"{{{PUBSUB}}}pubsub")
    pub = ET.SubElement(ps, f"{{{PUBSUB}}}publish", node=node)
    ET.SubElement(pub, f"{{{PUBSUB}}}item", id=item_id).append(payload)
    opts = ET.SubElement(ET.SubElement(ps, f"{{{PUBSUB}}}publish-options"), "{jabber:x:data}x")
    opts.set("type", "submit")
    for var, value in (("FORM_TYPE", f"{PUBSUB}#publish-options"), ("pubsub#access_model", "open")):
        field = ET.SubElement(opts, "{jabber:x:data}field", var=var)
        ET.SubElement(field, "{jabber:x:data}value").text = value
    return iq


async def publish_avatar(up: XmppUpstream, uri: str, timeout: float, limit: int) -> None:
    """Set our avatar (XEP-0084 §4.1: the data, then the metadata naming it by its SHA-1);
    an empty ``uri`` withdraws it (§4.5: empty metadata)."""
    meta = ET.Element(f"{{{META}}}metadata")
    if not uri:
        await up.iq(_publish_iq(up, META, "current", meta), timeout, "the avatar removal")
        return
    kind, _, b64 = uri[len("data:") :].partition(";base64,")
    raw = base64.b64decode(b64)
    if len(raw) > limit:
        raise TooLarge(_too_large(len(raw), limit))
    digest = hashlib.sha1(raw).hexdigest()  # §4.1: the item id is the SHA-1 of the image
    data = ET.Element(f"{{{DATA}}}data")
    data.text = base64.b64encode(raw).decode()
    await up.iq(_publish_iq(up, DATA, digest, data), timeout, "the avatar")
    info = {"id": digest, "type": kind, "bytes": str(len(raw))}
    ET.SubElement(meta, f"{{{META}}}info", info)
    await up.iq(_publish_iq(up, META, digest, meta), timeout, "the avatar metadata")
