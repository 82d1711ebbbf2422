"""Messages about other messages: chat markers (XEP-0333), replies (XEP-0461), reactions
(XEP-0444) and retraction (XEP-0424), in the shapes shared with IRC (docs/protocol.md)::

    receipt  object {type: receipt, id, status: read}      <displayed id/>  (XEP-0333 §3)
             object {type: receipt, id, status: delivered} <received id/> marker, as 0184
    send     object {type: message, content, inReplyTo}   <reply to id/> + a quote marked
                                                            as a fallback (XEP-0428)
    react    object {type: reaction, inReplyTo, content: emoji, remove?: true}
                                                            <reactions id><reaction/>…
    delete   object {type: message, id}                    <retract id/> (XEP-0424 §4)

Each names another message. In a room that name is the room's XEP-0359 stanza-id (every
one of these XEPs says so, as a room rewrites nothing else reliably); in a chat it is the
message's own id (our messages carry it as their origin-id too). ``Recall`` maps between
the browser's ``object.id`` and that wire id both ways. XEP-0444 sends a sender's whole
set: one incoming set becomes one ``react`` per emoji added or removed.

``read`` translates an incoming stanza, the ``*_stanza`` functions build outgoing ones.
Pure: no socket, no slixmpp.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

from ..session.activity import activity
from .context import XmppContext
from .recall import Recall

__all__ = [
    "FALLBACK_NS",
    "MARKERS_NS",
    "REACTIONS_NS",
    "REPLY_NS",
    "RETRACT_NS",
    "add_reply",
    "displayed_stanza",
    "markable",
    "react_stanza",
    "read",
    "reply_of",
    "retract_stanza",
]

MARKERS_NS = "urn:xmpp:chat-markers:0"
REPLY_NS = "urn:xmpp:reply:0"
REACTIONS_NS = "urn:xmpp:reactions:0"
RETRACT_NS = "urn:xmpp:message-retract:1"
_RETRACT_0 = "urn:xmpp:message-retract:0"  # before XEP-0424 0.4: inside a XEP-0422 fastening
_FASTEN = "urn:xmpp:fasten:0"
FALLBACK_NS = "urn:xmpp:fallback:0"
_HINTS = "urn:xmpp:hints"
_CLIENT = "jabber:client"
MAX_REACTION_CHARS = 32  # as the registry's ReactionObject: an emoji with its modifiers
RETRACT_FALLBACK = (
    "This person attempted to retract a previous message, but it's unsupported by your client."
)


def _activity(verb: str, actor: Any, target: Any, obj: dict[str, Any]) -> dict[str, Any]:
    return activity("xmpp", verb, actor, target, obj)


# -- incoming ---------------------------------------------------------------------------
def _retracted(el: ET.Element) -> str | None:
    found = el.find(f"{{{RETRACT_NS}}}retract")
    if found is not None and found.get("id"):
        return found.get("id")
    fasten = el.find(f"{{{_FASTEN}}}apply-to")
    if fasten is not None and fasten.find(f"{{{_RETRACT_0}}}retract") is not None:
        return fasten.get("id") or None
    return None


def read(
    el: ET.Element,
    ctx: XmppContext,
    conversation: str,
    actor: dict[str, str],
    target: dict[str, str],
    *,
    ours: bool = False,
    reflected: bool = False,
) -> list[dict[str, Any]] | None:
    """The activities a marker, reaction set or retraction gives, or None when ``el`` is
    none of them. ``ours``: sent by our account (a carbon or a room's reflection);
    ``reflected``: a room echoing what this connection itself sent (only remembered)."""
    recall: Recall = ctx.recall
    retracted = _retracted(el)
    if retracted is not None:
        if reflected:
            return []
        author = recall.lookup(conversation, retracted)
        if author is not None and author.author.lower() != actor["id"].lower():
            return []  # §6: only the author retracts; someone else's claim is dropped
        gone = {"type": "message", "id": recall.known_as(conversation, retracted)}
        return [_activity("delete", actor, target, gone)]
    reactions = el.find(f"{{{REACTIONS_NS}}}reactions")
    if reactions is not None and reactions.get("id"):
        mid = recall.known_as(conversation, reactions.get("id") or "")
        emojis: list[str] = []
        for r in reactions.findall(f"{{{REACTIONS_NS}}}reaction"):
            text = (r.text or "").strip()
            # §3.1: each is one emoji; a longer text is no reaction (and no 1 MiB event)
            if len(text) > MAX_REACTION_CHARS:
                continue
            if text and text not in emojis and len(emojis) < recall.max_reactions:
                emojis.append(text)
        if ours:  # another resource of ours, or the room echoing us: our set is now this
            before = recall.our_set(conversation, mid)
            recall.set_ours(conversation, mid, emojis)
            if reflected:
                return []
            added = [e for e in emojis if e not in before]
            removed = [e for e in before if e not in emojis]
        else:
            added, removed = recall.diff_theirs(conversation, actor["id"], mid, emojis)
        out = []
        for emoji, remove in [(e, False) for e in added] + [(e, True) for e in removed]:
            obj: dict[str, Any] = {"type": "reaction", "inReplyTo": mid, "content": emoji}
            if remove:
                obj["remove"] = True
            out.append(_activity("react", actor, target, obj))
        return out
    for marker, status in (("displayed", "read"), ("received", "delivered")):
        found = el.find(f"{{{MARKERS_NS}}}{marker}")
        if found is not None and found.get("id"):
            if reflected:
                return []
            mid = recall.known_as(conversation, found.get("id") or "")
            receipt = {"type": "receipt", "id": mid, "status": status}
            return [_activity("receipt", actor, target, receipt)]
    return None


def reply_of(el: ET.Element, body: str, recall: Recall, conversation: str) -> tuple[str, str]:
    """``(inReplyTo, body without the fallback quote)``, or ``("", body)`` for a message
    that replies to nothing. The quote's range counts code points (XEP-0426 §3), as
    Python's ``str`` does."""
    ref = el.find(f"{{{REPLY_NS}}}reply")
    if ref is None or not ref.get("id"):
        return "", body
    for fb in el.findall(f"{{{FALLBACK_NS}}}fallback"):
        if fb.get("for") != REPLY_NS:
            continue
        span = fb.find(f"{{{FALLBACK_NS}}}body")
        try:
            start, end = int(span.get("start", "0")), int(span.get("end", "0"))  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            break
        if 0 <= start <= end <= len(body):
            body = body[:start] + body[end:]
        break
    return recall.known_as(conversation, ref.get("id") or ""), body


# -- outgoing ---------------------------------------------------------------------------
def _message(to: str, mtype: str, mid: str | None = None) -> ET.Element:
    attrs = {"to": to, "type": mtype}
    if mid:
        attrs["id"] = mid
    return ET.Element(f"{{{_CLIENT}}}message", attrs)


def markable(msg: ET.Element) -> None:
    """XEP-0333 §3: a message that may be marked displayed; every chat client sends it."""
    ET.SubElement(msg, f"{{{MARKERS_NS}}}markable")


def add_reply(msg: ET.Element, ref_id: str, to: str, author: str, quote: str) -> None:
    """Make ``msg`` a reply to ``ref_id`` (XEP-0461 §3), quoting ``quote`` ahead of the
    body as a fallback for clients without replies (§5), marked so (XEP-0428)."""
    attrs = {"id": ref_id}
    if to:
        attrs["to"] = to
    ET.SubElement(msg, f"{{{REPLY_NS}}}reply", attrs)
    body = msg.find(f"{{{_CLIENT}}}body")
    if not quote or body is None:
        return
    lines = [f"{author} wrote:"] if author else []
    lines += quote.splitlines() or [""]
    fallback = "".join(f"> {line}\n" for line in lines)
    body.text = fallback + (body.text or "")
    fb = ET.SubElement(msg, f"{{{FALLBACK_NS}}}fallback", {"for": REPLY_NS})
    ET.SubElement(fb, f"{{{FALLBACK_NS}}}body", start="0", end=str(len(fallback)))


def react_stanza(to: str, mtype: str, ref_id: str, emojis: list[str], mid: str) -> ET.Element:
    """XEP-0444 §3.1: our whole set for the message (empty: all withdrawn)."""
    msg = _message(to, mtype, mid)
    reactions = ET.SubElement(msg, f"{{{REACTIONS_NS}}}reactions", id=ref_id)
    for emoji in emojis:
        ET.SubElement(reactions, f"{{{REACTIONS_NS}}}reaction").text = emoji
    ET.SubElement(msg, f"{{{_HINTS}}}store")  # §3.1: archived like the messages
    return msg


def retract_stanza(to: str, mtype: str, ref_id: str, mid: str) -> ET.Element:
    """XEP-0424 §4, with its fallback body for clients that do not know retraction."""
    msg = _message(to, mtype, mid)
    ET.SubElement(msg, f"{{{RETRACT_NS}}}retract", id=ref_id)
    ET.SubElement(msg, f"{{{FALLBACK_NS}}}fallback", {"for": RETRACT_NS})
    ET.SubElement(msg, f"{{{_CLIENT}}}body").text = RETRACT_FALLBACK
    ET.SubElement(msg, f"{{{_HINTS}}}store")
    return msg


def displayed_stanza(to: str, mtype: str, ref_id: str) -> ET.Element:
    """XEP-0333 §3: read up to and including ``ref_id``; archived, so that our other
    clients learn it too (§3.2)."""
    msg = _message(to, mtype)
    ET.SubElement(msg, f"{{{MARKERS_NS}}}displayed", id=ref_id)
    ET.SubElement(msg, f"{{{_HINTS}}}store")
    return msg
