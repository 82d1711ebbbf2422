"""Answers to ``query``: a room's attendance, a room's disco#info, the roster.

Pure, like ``translate``: each takes what the server answered (an iq element) or what the
translator knows (``XmppContext``) and returns the result activity::

    attendance  query  actor room  target person (us)
                object {attendance, members: [nick], roles: {nick: role},
                        affiliations: {nick: affiliation}}
    room-info   query  actor room (named by its identity)  target person (us)
                object {room-info, name, identities: [{category, type, name}],
                        features: [var], fields: {var: value | [values]}}
    roster      query  actor person (us)
                object {roster, items: [{type: person, id, name, subscription, ask?, groups}]}

Attendance comes from the occupants' presences while we are in the room (XEP-0045
§7.2.3); outside a room only disco#items can answer (§6.5), and many rooms keep it empty.
room-info reads XEP-0030 identities and features and the XEP-0128 ``muc#roominfo`` form.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ..session.activity import activity
from .context import XmppContext
from .ids import person, room, split_jid
from .translate import NS, child, roster_item

__all__ = ["attendance", "attendance_from_items", "room_info", "roster"]

_DISCO_INFO = "http://jabber.org/protocol/disco#info"
_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
_DATA = "jabber:x:data"


def _query(
    actor: dict[str, str], target: dict[str, str] | None, obj: dict[str, Any]
) -> dict[str, Any]:
    return activity("xmpp", "query", actor, target, obj)


def attendance(ctx: XmppContext, room_jid: str) -> dict[str, Any] | None:
    """Who is in a room we are in, or ``None`` when we are not in it."""
    state = ctx.room(room_jid)
    if state is None or not state.joined:
        return None
    nicks = sorted(state.occupants)
    return _query(
        room(state.jid),
        person(ctx.jid),
        {
            "type": "attendance",
            "members": nicks,
            "roles": {n: state.occupants[n].role for n in nicks},
            "affiliations": {n: state.occupants[n].affiliation for n in nicks},
        },
    )


def attendance_from_items(iq: ET.Element, room_jid: str, us: str) -> dict[str, Any]:
    """Attendance from a disco#items answer: occupants are ``room/nick`` items."""
    query = child(iq, "query", _DISCO_ITEMS)
    nicks = []
    for item in query if query is not None else []:
        nick = split_jid(item.get("jid", "")).resource or item.get("name", "")
        if nick:
            nicks.append(nick)
    return _query(room(room_jid), person(us), {"type": "attendance", "members": sorted(nicks)})


def _fields(form: ET.Element) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in form:
        if field.tag != f"{{{_DATA}}}field" or not field.get("var"):
            continue
        values = [v.text or "" for v in field if v.tag == f"{{{_DATA}}}value"]
        if field.get("var") == "FORM_TYPE":
            continue
        multi = field.get("type", "").endswith("-multi")
        out[field.get("var", "")] = values if multi else (values[0] if values else "")
    return out


def room_info(iq: ET.Element, room_jid: str, us: str) -> dict[str, Any]:
    query = child(iq, "query", _DISCO_INFO)
    identities: list[dict[str, str]] = []
    features: list[str] = []
    fields: dict[str, Any] = {}
    for el in query if query is not None else []:
        if el.tag == f"{{{_DISCO_INFO}}}identity":
            identities.append(
                {k: el.get(k, "") for k in ("category", "type", "name") if el.get(k) is not None}
            )
        elif el.tag == f"{{{_DISCO_INFO}}}feature" and el.get("var"):
            features.append(el.get("var", ""))
        elif el.tag == f"{{{_DATA}}}x":
            fields.update(_fields(el))
    name = (
        next((i["name"] for i in identities if i.get("name")), None)
        or fields.get("muc#roomconfig_roomname")
        or None
    )
    obj: dict[str, Any] = {
        "type": "room-info",
        "identities": identities,
        "features": sorted(features),
        "fields": fields,
    }
    if name:
        obj["name"] = name
    return _query(room(room_jid, name), person(us), obj)


def roster(iq: ET.Element, us: str) -> dict[str, Any]:
    query = child(iq, "query", NS["roster"])
    items = [roster_item(i) for i in (query if query is not None else []) if i.get("jid")]
    return _query(
        person(us), None, {"type": "roster", "items": sorted(items, key=lambda i: i["id"])}
    )
