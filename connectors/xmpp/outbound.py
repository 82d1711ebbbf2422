"""Request activities → the stanzas that carry them out (``xml.etree`` elements).

Pure, like ``translate``. Every value that reaches a stanza is checked first: XML 1.0
cannot carry most control characters (one of them would make the server end our stream
as not-well-formed, RFC 6120 §4.9.3.13), JIDs must be bare where a person or a room is
meant. Refusals are ``InvalidEnvelope`` errors that name the field.

    send            <message type="chat|groupchat" to id><body/>
                    [<replace id/> (XEP-0308)] [<x xmlns=jabber:x:oob><url/>] (XEP-0066)
                    <origin-id id/> (XEP-0359)
                    chat only: <request xmlns=urn:xmpp:receipts/> (XEP-0184 §5.1)
                    then, by the connector: <markable/> (XEP-0333), and for
                    inReplyTo <reply/> + fallback quote (XEP-0461; ``references``)
    typing          <message type="chat|groupchat" to><composing/ etc.> (XEP-0085 §5.5)
                    <no-store/> (XEP-0334)
    receipt         <message type="chat" to><received id/> (XEP-0184 §5.2)
    join            <presence to="room/nick"><x xmlns=muc>[<history/>]</x> (XEP-0045 §7.2)
                    and, when that created the room (status 201), the instant-room form:
                    <query xmlns=muc#owner><x xmlns=jabber:x:data type=submit/> (§10.1.2)
    leave           <presence type="unavailable" to="room/nick"><status/> (§7.14)
    update          presence: <presence>[<show/>]<status/>, offline: type="unavailable"
                    topic: <message type="groupchat" to=room><subject/> (§8.1)
    request-friend  <presence type="subscribe" to>       (RFC 6121 §3.1)
    make-friend     <presence type="subscribed" to>      (§3.1.5, approving a request)
    remove-friend   <presence type="unsubscribe"/> and <presence type="unsubscribed"/>
                    (§3.3, §3.2: stop seeing them and stop them seeing us)
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from envelopes.errors import InvalidEnvelope

from .ids import split_jid
from .signals import CHAT_STATES, CHATSTATES_NS, HINTS_NS, RECEIPTS_NS
from .upload import oob_element

__all__ = [
    "MUC_NS",
    "check_text",
    "instant_room_query",
    "join_stanza",
    "leave_stanza",
    "message_stanza",
    "nick_for",
    "presence_stanza",
    "receipt_stanza",
    "subject_stanza",
    "subscription_stanzas",
    "target_jid",
    "typing_stanza",
]

Activity = Mapping[str, Any]
CLIENT = "jabber:client"
MUC_NS = "http://jabber.org/protocol/muc"
MUC_OWNER = "http://jabber.org/protocol/muc#owner"
DATA_FORMS = "jabber:x:data"
_REPLACE = "urn:xmpp:message-correct:0"
_SID = "urn:xmpp:sid:0"
# XML 1.0 §2.2 Char: no C0 controls except TAB, LF, CR; no U+FFFE/U+FFFF; no surrogates.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_SHOW = {"away": "away", "chat": "chat", "dnd": "dnd", "xa": "xa"}


def check_text(value: str, path: str) -> str:
    """``value`` if XML can carry it, else an ``InvalidEnvelope`` naming ``path``."""
    if _NOT_XML.search(value):
        raise InvalidEnvelope(f"{path} contains a control character XML cannot carry", path=path)
    return value


def target_jid(activity: Activity, *, kind: str | None = None) -> str:
    """The bare JID of the request's ``target`` (a person or a room)."""
    target = activity.get("target")
    if not isinstance(target, Mapping) or not target.get("id"):
        raise InvalidEnvelope("target is required", path="target")
    jid = split_jid(str(target["id"]))
    if not jid.local or not jid.domain or jid.resource:
        raise InvalidEnvelope("target.id must be a bare JID (local@domain)", path="target.id")
    if kind is not None and target.get("type") != kind:
        raise InvalidEnvelope(f"target.type must be {kind}", path="target.type")
    return check_text(jid.bare, "target.id")


def nick_for(activity: Activity) -> str:
    """Our nickname in a room: the actor's ``name``, else its JID's localpart."""
    actor = activity.get("actor") or {}
    name = actor.get("name") if isinstance(actor, Mapping) else None
    nick = str(name) if name else split_jid(str(actor.get("id", ""))).local
    nick = nick.strip()
    if not nick:
        raise InvalidEnvelope("actor.name must give a nickname for the room", path="actor.name")
    return check_text(nick, "actor.name")


def _el(tag: str, attrs: dict[str, str] | None = None, ns: str = CLIENT) -> ET.Element:
    return ET.Element(f"{{{ns}}}{tag}", {k: v for k, v in (attrs or {}).items() if v})


def _sub(
    parent: ET.Element, tag: str, text: str | None = None, ns: str = CLIENT, **attrs: str
) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ns}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def message_stanza(activity: Activity, mid: str) -> ET.Element:
    """``send``: a chat message to a person, a groupchat message to a room."""
    to = target_jid(activity)
    mtype = "groupchat" if activity["target"].get("type") == "room" else "chat"
    obj = activity.get("object") or {}
    attachment = obj.get("attachment") if isinstance(obj.get("attachment"), Mapping) else None
    if attachment is not None:
        check_text(str(attachment.get("url") or ""), "object.attachment.url")
        check_text(str(attachment.get("name") or ""), "object.attachment.name")
    # XEP-0066 §3 with HTTP upload: the body is the link itself, as clients expect.
    body = str(obj.get("content") or (attachment or {}).get("url") or "")
    body = check_text(body, "object.content")
    if not body:
        raise InvalidEnvelope("a message needs content", path="object.content")
    msg = _el("message", {"to": to, "type": mtype, "id": mid})
    _sub(msg, "body", body)
    if attachment is not None and attachment.get("url"):
        msg.append(oob_element(attachment))
    replace = obj.get("xmpp:replace")
    if isinstance(replace, Mapping) and replace.get("id"):
        _sub(
            msg, "replace", ns=_REPLACE, id=check_text(str(replace["id"]), "object.xmpp:replace.id")
        )
    _sub(msg, "origin-id", ns=_SID, id=mid)
    if mtype == "chat":  # XEP-0184 §5.3: never in groupchat
        _sub(msg, "request", ns=RECEIPTS_NS)
    return msg


def typing_stanza(activity: Activity) -> ET.Element:
    """``typing``: a standalone chat state notification to a person or a room."""
    to = target_jid(activity)
    state = str((activity.get("object") or {}).get("state") or "")
    if state not in CHAT_STATES:
        raise InvalidEnvelope(
            f"object.state must be one of {', '.join(CHAT_STATES)}", path="object.state"
        )
    mtype = "groupchat" if activity["target"].get("type") == "room" else "chat"
    msg = _el("message", {"to": to, "type": mtype})
    _sub(msg, state, ns=CHATSTATES_NS)
    _sub(msg, "no-store", ns=HINTS_NS)  # typing is worth no archive or offline store
    return msg


def receipt_stanza(activity: Activity) -> ET.Element:
    """``receipt``: we got the message ``object.id`` from the target person."""
    to = target_jid(activity, kind="person")
    mid = check_text(str((activity.get("object") or {}).get("id") or ""), "object.id")
    if not mid:
        raise InvalidEnvelope("a receipt names the message it acknowledges", path="object.id")
    msg = _el("message", {"to": to, "type": "chat"})
    _sub(msg, "received", ns=RECEIPTS_NS, id=mid)
    return msg


def subject_stanza(room_jid: str, subject: str, mid: str) -> ET.Element:
    msg = _el("message", {"to": room_jid, "type": "groupchat", "id": mid})
    _sub(msg, "subject", check_text(subject, "object.content"))
    return msg


def join_stanza(
    room_jid: str,
    nick: str,
    *,
    history: Mapping[str, str] | None = None,
    show: str = "online",
    status: str = "",
) -> ET.Element:
    """XEP-0045 §7.2.1; ``history`` e.g. ``{"since": stamp}`` or ``{"maxstanzas": "0"}``
    (§7.2.15). Our current show and status go along, as the room shows them to others."""
    pres = _presence(show, status, to=f"{room_jid}/{nick}")
    x = _sub(pres, "x", ns=MUC_NS)
    if history:
        _sub(x, "history", ns=MUC_NS, **dict(history))
    return pres


def instant_room_query() -> ET.Element:
    """XEP-0045 §10.1.2: the owner accepts the default configuration with an empty submit
    form; until then the room is locked and anyone else joining gets ``item-not-found``."""
    query = ET.Element(f"{{{MUC_OWNER}}}query")
    ET.SubElement(query, f"{{{DATA_FORMS}}}x", {"type": "submit"})
    return query


def leave_stanza(room_jid: str, nick: str, status: str = "") -> ET.Element:
    pres = _el("presence", {"to": f"{room_jid}/{nick}", "type": "unavailable"})
    if status:
        _sub(pres, "status", check_text(status, "object.content"))
    return pres


def _presence(show: str, status: str, to: str = "") -> ET.Element:
    if show == "offline":
        pres = _el("presence", {"to": to, "type": "unavailable"})
    else:
        pres = _el("presence", {"to": to})
        if show in _SHOW:
            _sub(pres, "show", _SHOW[show])
    if status:
        _sub(pres, "status", check_text(status, "object.content"))
    return pres


def presence_stanza(show: str, status: str = "", to: str = "") -> ET.Element:
    """``update`` presence: ``online`` has no ``<show/>``; ``offline`` is unavailable."""
    if show not in _SHOW and show not in ("online", "offline"):
        raise InvalidEnvelope(f"unknown presence {show!r}", path="object.presence")
    return _presence(show, status, to)


def subscription_stanzas(verb: str, to: str, status: str = "") -> list[ET.Element]:
    types = {
        "request-friend": ["subscribe"],
        "make-friend": ["subscribed"],
        "remove-friend": ["unsubscribe", "unsubscribed"],
    }[verb]
    out = []
    for ptype in types:
        pres = _el("presence", {"to": to, "type": ptype})
        if status and ptype == "subscribe":
            _sub(pres, "status", check_text(status, "object.content"))
        out.append(pres)
    return out
