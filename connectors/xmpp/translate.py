"""Incoming XMPP → ActivityStreams 2.0: one stanza in, zero or more results out.

Pure: it reads an ``xml.etree.ElementTree`` element (slixmpp's ``stanza.xml``, or a
captured stanza parsed from text) and an ``XmppContext``, which it keeps up to date itself
(who is in our rooms). No socket, no clock, no slixmpp. Ids follow ``connectors.xmpp.ids``.

Shapes (``@context`` is always the XMPP one; ``published`` comes from a XEP-0203
``<delay>``, e.g. room history)::

    message chat/normal   send    actor person|occupant  target person (us)
                                  object {message, content, id, xmpp:stanza-id, xmpp:replace,
                                  attachment: {file, url, name?} (XEP-0066 link)}
    message groupchat     send    actor occupant         target room   object as above
    carbon <sent>         send    actor person (us)      target person  object as above,
                                  with xmpp:carbon: sent (another resource of ours sent it)
    carbon <received>     as the chat message it copies, with xmpp:carbon: received
    chat state (XEP-0085) typing  actor as a message's   target as a message's
                                  object {typing, state} (our own, reflected by a room: none)
    receipt (XEP-0184)    receipt actor person           target person (us)
                                  object {receipt, id: the message's, status: delivered}
    message <subject/>    update  actor occupant|room    target room   object {topic, content}
    presence (contact)    update  actor person           target person (us)
                                  object {presence: online|away|chat|dnd|xa|offline, content}
    presence (occupant)   update  actor occupant         target room
                                  object {presence, content, role, affiliation, jid?}
    our presence, 110     join    actor occupant (us)    target room   (the room took us in)
    our unavailable, 110  leave   actor occupant (us)    target room   object {content}
    subscribe             request-friend  actor person   target person (us)
    subscribed            make-friend     "              object {relationship, subscription}
    unsubscribe(d)        remove-friend   "
    roster push           update  actor person (us)      target person (contact)
                                  object {relationship, subscription, ask?, name?, groups}
    error stanza          an ``XmppError`` (the connector fails the request it answers, or
                          emits it as an ``error`` event)

``xmpp:stanza-id`` (XEP-0359) is taken only when the entity that stamped it is the one
that should have: the room for groupchat, our own account for chats (XEP-0359 §3.3).
``xmpp:replace`` is a XEP-0308 correction of the message with that id.
Markers, replies, reactions and retractions (XEP-0333/0461/0444/0424) are read by
``references``: ``receipt`` (status read), ``send`` with ``inReplyTo``, ``react``,
``delete``; every message with a body is remembered in ``ctx.recall`` for them.
Everything else (probes, iq other than roster pushes) gives nothing.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ..session.activity import activity
from . import references, signals
from .carbons import unwrap
from .context import Occupant, XmppContext
from .errors import XmppError, error_of
from .ids import bare, fold, occupant, person, room, split_jid
from .upload import attachment_of

__all__ = [
    "Activity",
    "Result",
    "NS",
    "XmppContext",
    "child",
    "child_text",
    "translate",
]

Activity = dict[str, Any]
Result = Activity | XmppError

NS = {
    "client": "jabber:client",
    "muc_user": "http://jabber.org/protocol/muc#user",
    "delay": "urn:xmpp:delay",
    "sid": "urn:xmpp:sid:0",
    "replace": "urn:xmpp:message-correct:0",
    "roster": "jabber:iq:roster",
}
_SHOW = ("away", "chat", "dnd", "xa")
_SUBSCRIPTION_VERBS = {
    "subscribe": "request-friend",
    "subscribed": "make-friend",
    "unsubscribe": "remove-friend",
    "unsubscribed": "remove-friend",
}


def _name(tag: str) -> tuple[str, str]:
    if tag.startswith("{"):
        ns, _, local = tag[1:].partition("}")
        return ns, local
    return "", tag


def child(el: ET.Element, local: str, ns: str = "jabber:client") -> ET.Element | None:
    """The first child named ``local`` in ``ns``; stanza-level names (``jabber:client``)
    also match without a namespace, as in a stanza captured as text."""
    for c in el:
        cns, cname = _name(c.tag)
        if cname == local and (cns == ns or (ns == NS["client"] and cns == "")):
            return c
    return None


def child_text(el: ET.Element, local: str, ns: str = "jabber:client") -> str | None:
    c = child(el, local, ns)
    return None if c is None else (c.text or "")


def _activity(
    verb: str,
    actor: dict[str, str],
    target: dict[str, str] | None,
    obj: dict[str, Any] | None,
    published: str | None = None,
) -> Activity:
    return activity("xmpp", verb, actor, target, obj, published)


def translate(el: ET.Element, ctx: XmppContext) -> list[Result]:
    """Results for one received stanza (see the module docstring)."""
    kind = _name(el.tag)[1]
    err = error_of(el)
    if err is not None:
        if kind == "presence":
            _join_failed(err, ctx)
        return [err]
    if kind == "message":
        return _message(el, ctx)
    if kind == "presence":
        return _presence(el, ctx)
    if kind == "iq":
        return _roster_push(el, ctx)
    return []


# -- messages ---------------------------------------------------------------------------
def _stanza_id(el: ET.Element, by: str) -> str | None:
    for c in el:
        if c.tag == f"{{{NS['sid']}}}stanza-id" and bare(c.get("by", "")).lower() == by.lower():
            return c.get("id")
    return None


def _published(el: ET.Element) -> str | None:
    delay = child(el, "delay", NS["delay"])
    return delay.get("stamp") if delay is not None else None


def _message_object(el: ET.Element, body: str, stamped_by: str) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "message", "content": body}
    sid = _stanza_id(el, stamped_by)
    if el.get("id") or sid:  # the message's own id; else the archive's (XEP-0359)
        obj["id"] = el.get("id") or sid
    if sid:
        obj["xmpp:stanza-id"] = sid
    replace = child(el, "replace", NS["replace"])
    if replace is not None and replace.get("id"):
        obj["xmpp:replace"] = {"id": replace.get("id")}
    attachment = attachment_of(el)  # XEP-0066: a link, e.g. an uploaded file
    if attachment is not None:
        obj["attachment"] = attachment
    return obj


def _send(
    el: ET.Element,
    ctx: XmppContext,
    body: str,
    where: tuple[str, str],  # the conversation's key, who stamps its stanza-ids
    actor: dict[str, str],
    target: dict[str, str],
    ours: bool,
) -> Activity:
    """A message with a body: its ``send``, remembered for what may refer to it later."""
    conversation, stamped_by = where
    in_reply_to, body = references.reply_of(el, body, ctx.recall, conversation)
    obj = _message_object(el, body, stamped_by)
    if in_reply_to:
        obj["inReplyTo"] = in_reply_to
    sid = obj.get("xmpp:stanza-id", "")
    ctx.recall.add(conversation, obj.get("id", ""), sid, actor["id"], body, ours)
    return _activity("send", actor, target, obj, _published(el))


def _message(el: ET.Element, ctx: XmppContext) -> list[Result]:
    carbon = unwrap(el, ctx)
    if carbon is None:
        return _incoming(el, ctx)
    direction, inner = carbon
    if inner is None or inner.get("type") == "groupchat":
        return []  # forged (not from our account), or a room's (rooms send us those)
    results = _incoming(inner, ctx) if direction == "received" else _outgoing(inner, ctx)
    for result in results:
        if isinstance(result, dict) and "object" in result:
            result["object"]["xmpp:carbon"] = direction
    return results


def _outgoing(el: ET.Element, ctx: XmppContext) -> list[Result]:
    """A message another resource of ours sent: our own ``send``, to its recipient."""
    to = el.get("to") or ""
    parts = split_jid(to)
    to_room = child(el, "x", NS["muc_user"]) is not None or ctx.room(parts.bare) is not None
    target = occupant(parts.bare, parts.resource) if to_room and parts.resource else person(to)
    conversation, me = fold(to), person(ctx.jid)
    refs = references.read(el, ctx, conversation, me, target, ours=True)
    if refs is not None:
        return list(refs)
    body = child_text(el, "body")
    if body is None:
        return _signal(el, me, target)
    return [_send(el, ctx, body, (conversation, ctx.jid), me, target, True)]


def _signal(el: ET.Element, actor: dict[str, str], target: dict[str, str]) -> list[Result]:
    """A body-less message: a receipt or a chat state (``signals``), or nothing."""
    found = signals.read(el)
    if found is None:
        return []  # markers, hints, empty messages
    verb, obj = found
    return [_activity(verb, actor, target, obj)]


def _incoming(el: ET.Element, ctx: XmppContext) -> list[Result]:
    mtype = el.get("type") or "normal"
    sender = el.get("from") or split_jid(ctx.jid).domain
    body = child_text(el, "body")
    published = _published(el)
    if mtype == "groupchat":
        room_jid, nick = bare(sender), split_jid(sender).resource
        where = room(room_jid)
        actor = occupant(room_jid, nick) if nick else where
        state = ctx.room(room_jid)
        echo = state is not None and bool(nick) and nick == state.nick  # our own, reflected
        refs = references.read(el, ctx, fold(room_jid), actor, where, ours=echo, reflected=echo)
        if refs is not None:
            return list(refs)
        subject = child_text(el, "subject")
        if body is None and subject is not None:
            # XEP-0045 §8.1: a subject without a body is the room's topic (even empty).
            state = ctx.room(room_jid)
            if state is not None:
                state.subject = subject
            return [
                _activity("update", actor, where, {"type": "topic", "content": subject}, published)
            ]
        if body is None:
            if echo:
                return []  # our own typing, as the room reflected it
            return _signal(el, actor, where)
        return [_send(el, ctx, body, (fold(room_jid), room_jid), actor, where, echo)]
    parts = split_jid(sender)
    from_room = child(el, "x", NS["muc_user"]) is not None or ctx.room(parts.bare) is not None
    actor = occupant(parts.bare, parts.resource) if from_room and parts.resource else person(sender)
    conversation = fold(sender)
    refs = references.read(el, ctx, conversation, actor, person(ctx.jid))
    if refs is not None:
        return list(refs)
    if body is None:
        return _signal(el, actor, person(ctx.jid))
    return [_send(el, ctx, body, (conversation, ctx.jid), actor, person(ctx.jid), False)]


# -- presence ---------------------------------------------------------------------------
def _show(el: ET.Element, available: bool) -> str:
    show = (child_text(el, "show") or "").strip()
    if not available:
        return "offline"
    return show if show in _SHOW else "online"


def _presence(el: ET.Element, ctx: XmppContext) -> list[Result]:
    ptype = el.get("type") or "available"
    sender = el.get("from") or ""
    status = child_text(el, "status")
    if ptype in _SUBSCRIPTION_VERBS:
        obj: dict[str, Any] = {"type": "relationship", "subscription": ptype}
        if status:
            obj["content"] = status
        return [_activity(_SUBSCRIPTION_VERBS[ptype], person(sender), person(ctx.jid), obj)]
    if ptype not in ("available", "unavailable") or not sender:
        return []  # probes; malformed
    x = child(el, "x", NS["muc_user"])
    if x is not None or (ctx.room(sender) is not None and split_jid(sender).resource):
        return _occupant_presence(el, x, ctx, ptype == "available")
    if ctx.is_this_session(sender):
        return []  # our own broadcast, reflected
    obj = {"type": "presence", "presence": _show(el, ptype == "available")}
    if status:
        obj["content"] = status
    return [_activity("update", person(sender), person(ctx.jid), obj, _published(el))]


def _occupant_presence(
    el: ET.Element, x: ET.Element | None, ctx: XmppContext, available: bool
) -> list[Result]:
    sender = el.get("from") or ""
    room_jid, nick = bare(sender), split_jid(sender).resource
    codes: set[str] = set()
    item: dict[str, str] = {}
    if x is not None:
        codes = {s.get("code", "") for s in x if _name(s.tag)[1] == "status"}
        found = child(x, "item", NS["muc_user"])
        item = dict(found.attrib) if found is not None else {}
    status = child_text(el, "status") or ""
    state = ctx.room(room_jid)
    who = Occupant(
        nick,
        item.get("role", "participant"),
        item.get("affiliation", "none"),
        item.get("jid", ""),
        _show(el, available),
        status,
    )
    me = "110" in codes  # XEP-0045 §7.2.2: the room marks our own presence with 110
    if state is not None:
        if available:
            state.occupants[nick] = who
        else:
            state.occupants.pop(nick, None)
    actor, where = occupant(room_jid, nick), room(room_jid)
    if me and state is not None:
        if not available and "303" in codes and item.get("nick"):
            state.nick = item["nick"]  # §7.6: our nickname changed; the new one follows
            return []
        if not available:
            ctx.forget(room_jid)
            return [_activity("leave", actor, where, _leave_object(status, codes))]
        if not state.joined:
            state.joined = True
            state.nick = nick  # the room may have changed it (§7.2.2, status 210)
            state.created = "201" in codes  # §10.1.1: a new room, locked until configured
            return [
                _activity(
                    "join",
                    actor,
                    where,
                    {"type": "presence", "role": who.role, "affiliation": who.affiliation},
                )
            ]
    obj: dict[str, Any] = {
        "type": "presence",
        "presence": who.presence,
        "role": who.role,
        "affiliation": who.affiliation,
    }
    if status:
        obj["content"] = status
    if who.jid:
        obj["jid"] = who.jid
    return [_activity("update", actor, where, obj)]


def _leave_object(status: str, codes: set[str]) -> dict[str, Any]:
    # XEP-0045 §9.7/§10.9: 301 banned, 307 kicked, 321/322 membership lost, 332 shutdown.
    why = {"301": "banned", "307": "kicked", "321": "removed", "322": "removed", "332": "shutdown"}
    obj: dict[str, Any] = {"type": "message", "content": status}
    for code, reason in why.items():
        if code in codes:
            obj["reason"] = reason
            break
    return obj


def _join_failed(err: XmppError, ctx: XmppContext) -> None:
    """A join refused (an error presence from the room): forget that room."""
    state = ctx.room(err.sender)
    if state is not None and not state.joined:
        ctx.forget(err.sender)


# -- roster pushes (RFC 6121 §2.1.6) -----------------------------------------------------
def roster_item(item: ET.Element) -> dict[str, Any]:
    """A roster ``<item/>`` as a contact entry."""
    entry: dict[str, Any] = {
        "type": "person",
        "id": bare(item.get("jid", "")),
        "name": item.get("name") or split_jid(item.get("jid", "")).local,
        "subscription": item.get("subscription", "none"),
        "groups": [g.text or "" for g in item if _name(g.tag)[1] == "group"],
    }
    if item.get("ask"):
        entry["ask"] = item.get("ask")
    return entry


def _roster_push(el: ET.Element, ctx: XmppContext) -> list[Result]:
    if el.get("type") != "set":
        return []
    sender = el.get("from")
    if sender and not ctx.is_me(sender):
        return []  # RFC 6121 §2.1.6: only our own server may push; slixmpp refuses others
    query = child(el, "query", NS["roster"])
    if query is None:
        return []
    out: list[Result] = []
    for item in query:
        if _name(item.tag)[1] != "item" or not item.get("jid"):
            continue
        entry = roster_item(item)
        obj: dict[str, Any] = {
            "type": "relationship",
            "subscription": entry["subscription"],
            "groups": entry["groups"],
        }
        if "ask" in entry:
            obj["ask"] = entry["ask"]
        target = {"type": "person", "id": entry["id"], "name": entry["name"]}
        out.append(_activity("update", person(ctx.jid), target, obj))
    return out
