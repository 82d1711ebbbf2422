"""The verbs that refer to another message: ``react``, ``delete``, a ``read`` receipt,
and the reply part of ``send`` (stanzas in ``references``, ids through ``Recall``).

Each is sent and completes once a ping after it returns (our server has routed it), as a
chat message does: nobody answers a marker, a reaction or a retraction. The coroutines
run on the worker's loop (asyncio only), where ``Recall`` is kept.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

from envelopes.errors import InvalidEnvelope, Refused, TooLarge

from ..base import Job
from .client import XmppUpstream
from .ids import fold
from .outbound import check_text, target_jid
from .recall import Recall
from .references import add_reply, displayed_stanza, react_stanza, retract_stanza

__all__ = ["ReferringVerbs", "prepare_reply", "wire_id"]


def wire_id(recall: Recall, conversation: str, groupchat: bool, given: str) -> str:
    """The id the XEPs want for the message the browser calls ``given``: in a room the
    room's stanza-id (XEP-0461 §3, XEP-0444 §3.2, XEP-0424 §5, XEP-0333 §3.1) when we saw
    it; otherwise (or for a message we never saw) ``given`` itself."""
    found = recall.lookup(conversation, given)
    if found is None:
        return given
    return (found.stanza_id or found.id) if groupchat else found.id


def prepare_reply(
    recall: Recall, stanza: ET.Element, to: str, groupchat: bool, in_reply_to: str
) -> None:
    """Make ``stanza`` (a ``send``) a XEP-0461 reply, quoting the message when we saw it."""
    conversation = fold(to)
    found = recall.lookup(conversation, in_reply_to)
    author = found.author if found is not None else ("" if groupchat else to)
    name = author.rpartition("/")[2] if groupchat else author.partition("@")[0]
    quote = found.excerpt if found is not None else ""
    add_reply(stanza, wire_id(recall, conversation, groupchat, in_reply_to), author, name, quote)


def _where(job: Job) -> tuple[str, bool, str]:
    to = target_jid(job.activity)
    groupchat = job.activity["target"].get("type") == "room"
    return to, groupchat, "groupchat" if groupchat else "chat"


class ReferringVerbs:
    """Mixed into ``XmppConnector``: needs its ``_up`` and ``runtime``."""

    runtime: Any
    settings: Any

    def _up(self, job: Job) -> XmppUpstream:
        raise NotImplementedError

    def _routed(self, job: Job, up: XmppUpstream, build: Any) -> None:
        """Build the stanza on the loop (``Recall`` lives there), send it, ping."""

        async def go() -> None:
            up.send(build())
            await up.ping(job.remaining)

        self.runtime.call(job, go())

    def react(self, job: Job) -> None:
        """One reaction added or removed; XEP-0444 §3.1 sends our whole set for it."""
        obj = job.activity["object"]
        to, groupchat, mtype = _where(job)
        given = check_text(str(obj["inReplyTo"]), "object.inReplyTo")
        emoji = check_text(str(obj["content"]), "object.content")
        up = self._up(job)
        limit = self.settings.xmpp_max_reactions

        def build() -> ET.Element:
            recall, conversation = up.ctx.recall, fold(to)
            key = recall.known_as(conversation, given)
            emojis = [e for e in recall.our_set(conversation, key) if e != emoji]
            if not obj.get("remove"):
                emojis.append(emoji)
            if len(emojis) > limit:
                raise TooLarge(
                    f"more than {limit} reactions to one message (SOCKETHUB_XMPP_MAX_REACTIONS)"
                )
            recall.set_ours(conversation, key, emojis)
            ref = wire_id(recall, conversation, groupchat, given)
            return react_stanza(to, mtype, ref, emojis, uuid.uuid4().hex)

        self._routed(job, up, build)

    def delete(self, job: Job) -> None:
        """Retract one of our own messages (XEP-0424 §4). Only a message this account
        sent and this connection still remembers: receivers ignore other retractions, so
        sending one would pretend to a deletion that did not happen."""
        to, groupchat, mtype = _where(job)
        given = check_text(str(job.activity["object"]["id"]), "object.id")
        up = self._up(job)

        def build() -> ET.Element:
            found = up.ctx.recall.lookup(fold(to), given)
            if found is None or not found.ours:
                why = "not ours" if found is not None else "not one this connection remembers"
                raise Refused(
                    f"message {given} cannot be retracted: {why} (only our own recent "
                    "messages, SOCKETHUB_XMPP_MAX_REMEMBERED_MESSAGES)"
                )
            ref = (found.stanza_id or found.id) if groupchat else found.id
            return retract_stanza(to, mtype, ref, uuid.uuid4().hex)

        self._routed(job, up, build)

    def read_marker(self, job: Job) -> None:
        """``receipt`` with ``status: read``: XEP-0333 ``displayed`` for the message."""
        to, groupchat, mtype = _where(job)
        given = check_text(str(job.activity["object"]["id"]), "object.id")
        if not given:
            raise InvalidEnvelope("a receipt names the message it marks", path="object.id")
        up = self._up(job)

        def build() -> ET.Element:
            ref = wire_id(up.ctx.recall, fold(to), groupchat, given)
            return displayed_stanza(to, mtype, ref)

        self._routed(job, up, build)
