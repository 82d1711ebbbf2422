"""Message archives (MAM, XEP-0313, paged with RSM, XEP-0059): the stanzas, without a socket.

Pure, like ``translate``: it builds the query and reads what the archive sends back.
A query is an iq to the archive (no ``to``: our own account's archive, every chat of
ours; ``to`` a room's JID: the room's archive), answered by one ``<message>`` per archived
message, each wrapping it as ``<result queryid id><forwarded><delay/><message/></forwarded>``,
then by the iq's ``<fin complete?>`` result. The ``id`` of a result is the message's
stanza-id (XEP-0359) in that archive, and RSM's ``before``/``after`` take those ids.

An archived message is translated by the same functions as a live one, so it has the
same shape and the same ids: ``object.id`` is the message's own ``id`` (as live events
name it), ``object["xmpp:stanza-id"]`` the archive's id, ``published`` the archive's
``<delay>`` stamp (XEP-0313 §4.2).
"""

from __future__ import annotations

import copy
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from .context import XmppContext
from .ids import bare, fold
from .translate import NS, Activity, _incoming, _outgoing, child

__all__ = ["MAM", "Fin", "Result", "fin_of", "query_element", "result_of", "archived_send"]

MAM = "urn:xmpp:mam:2"
RSM = "http://jabber.org/protocol/rsm"
FORWARD = "urn:xmpp:forward:0"
DATA = "jabber:x:data"


def query_element(
    queryid: str,
    limit: int,
    *,
    with_jid: str | None = None,
    start: str | None = None,
    before: str | None = None,
    after: str | None = None,
) -> ET.Element:
    """``<query>`` for one page: ``limit`` messages after ``after`` (or from ``start``),
    or else the last ``limit`` before ``before`` (``before`` None: the newest)."""
    query = ET.Element(f"{{{MAM}}}query", {"queryid": queryid})
    form = ET.SubElement(query, f"{{{DATA}}}x", {"type": "submit"})
    fields = {"FORM_TYPE": MAM, "with": with_jid, "start": start}
    for var, value in fields.items():
        if value is not None:
            field = ET.SubElement(form, f"{{{DATA}}}field", {"var": var})
            if var == "FORM_TYPE":
                field.set("type", "hidden")
            ET.SubElement(field, f"{{{DATA}}}value").text = value
    rsm = ET.SubElement(query, f"{{{RSM}}}set")
    ET.SubElement(rsm, f"{{{RSM}}}max").text = str(limit)
    if after is not None:
        ET.SubElement(rsm, f"{{{RSM}}}after").text = after
    elif start is None:
        # XEP-0059 §2.5: an empty <before/> asks for the last page.
        ET.SubElement(rsm, f"{{{RSM}}}before").text = before or None
    return query


@dataclass
class Result:
    queryid: str
    id: str  # the stanza-id in this archive
    stamp: str | None
    message: ET.Element


def result_of(el: ET.Element) -> Result | None:
    """A ``<message>`` carrying a MAM result, read; None for any other message."""
    res = child(el, "result", MAM)
    if res is None:
        return None
    fwd = child(res, "forwarded", FORWARD)
    inner = child(fwd, "message") if fwd is not None else None
    if inner is None or fwd is None:
        return Result(res.get("queryid", ""), res.get("id", ""), None, ET.Element("message"))
    delay = child(fwd, "delay", NS["delay"])
    stamp = delay.get("stamp") if delay is not None else None
    return Result(res.get("queryid", ""), res.get("id", ""), stamp, inner)


@dataclass
class Fin:
    complete: bool
    first: str | None
    last: str | None


def fin_of(iq: ET.Element) -> Fin:
    fin = child(iq, "fin", MAM)
    if fin is None:
        return Fin(True, None, None)
    rsm = child(fin, "set", RSM)
    first = child(rsm, "first", RSM) if rsm is not None else None
    last = child(rsm, "last", RSM) if rsm is not None else None
    return Fin(
        fin.get("complete") in ("true", "1"),
        first.text if first is not None else None,
        last.text if last is not None else None,
    )


def archived_send(result: Result, archive: str, ctx: XmppContext) -> Activity | None:
    """The ``send`` activity of an archived message, as the live one was (or None: not a
    message with a body, e.g. an archived chat state or subject change). ``archive`` is
    the archive's JID: ours, or the room's."""
    inner = copy.deepcopy(result.message)
    for c in list(inner):  # ours, stamped by the archive that answered, replaces any other
        if c.tag in (f"{{{NS['sid']}}}stanza-id", f"{{{NS['delay']}}}delay"):
            inner.remove(c)
    ET.SubElement(inner, f"{{{NS['sid']}}}stanza-id", {"by": bare(archive), "id": result.id})
    if result.stamp:
        ET.SubElement(inner, f"{{{NS['delay']}}}delay", {"stamp": result.stamp})
    own = fold(archive) == fold(ctx.jid)
    if own and inner.get("type") == "groupchat":
        return None  # a room's message in our archive: the room's archive has it
    sent_by_us = own and fold(inner.get("from") or ctx.jid) == fold(ctx.jid)
    results = _outgoing(inner, ctx) if sent_by_us else _incoming(inner, ctx)
    for r in results:
        if isinstance(r, dict) and r.get("type") == "send":
            return r
    return None
