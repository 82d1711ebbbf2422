"""The XMPP platform: Sockethub's verbs and credentials, with one id convention.

Ids (the same in requests and events)::

    person    {"type": "person", "id": "alice@example.org", "name": "alice"}   a bare JID
    room      {"type": "room", "id": "room@conference.example.org", "name": "room"}
    occupant  {"type": "person", "id": "room@conference.example.org/nick", "name": "nick"}
    server    {"type": "service", "id": "example.org", "name": "example.org"}

A person and a room are their bare JIDs (RFC 7622 ``local@domain``); someone in a room is
the room's JID with their nickname as resource (XEP-0045 §4.1 "occupant JID"), because in
a room we may not know anyone's real JID. The actor of every request is the account's bare
JID; its ``name`` is the nickname used when joining rooms.

Credentials: ``userAddress`` (bare JID), ``password`` and ``resource`` required;
``server`` and ``port`` (default 5222; 5223 means direct TLS, XEP-0368) override the
domain's SRV records; ``allowInvalidCert`` (default false) skips certificate checks, for
servers you run yourself only. TLS is always required. Every verb needs them: they name
the connection, which is shared only by identical credentials (password included).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from ..registry import Platform, Verb
from ..schema import StrictSchema, TargetSchema, content_string, id_string, short_string
from .chatlog import LOG_QUERIES, LogQueryFields

__all__ = [
    "PLATFORM",
    "PRESENCE_STATES",
    "TYPING_STATES",
    "XmppCredentials",
    "connection_identity",
    "is_bare_jid",
]

# RFC 7622 §3.3.1: these may not appear in a localpart; whitespace and controls neither.
_BARE = r"[^\s\"&'/:<>@\x00-\x1f]{1,1023}@[^\s/@\x00-\x1f]{1,1023}"
_BARE_JID = validate.Regexp(rf"^{_BARE}\Z", error="must be a bare JID (local@domain)")
_NO_CONTROL = validate.Regexp(r"^[^\x00-\x1f\x7f]*\Z", error="must not contain control characters")
PRESENCE_STATES = ("online", "away", "chat", "dnd", "xa", "offline")


def is_bare_jid(value: str) -> bool:
    """``local@domain`` without a resource, as the schemas accept it."""
    try:
        _BARE_JID(value)
    except ValidationError:
        return False
    return True


class XmppCredentials(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(("credentials",)))
    userAddress = fields.String(required=True, validate=_BARE_JID)
    password = fields.String(required=True, validate=[validate.Length(1, 1024), _NO_CONTROL])
    resource = fields.String(required=True, validate=[validate.Length(1, 256), _NO_CONTROL])
    server = fields.String(
        validate=[
            validate.Length(1, 253),
            validate.Regexp(r"^[^\s/@\x00-\x1f]+\Z", error="must be a host name"),
        ]
    )
    port = fields.Integer(validate=validate.Range(1, 65535), strict=True)
    allowInvalidCert = fields.Boolean()


class PersonTarget(TargetSchema):
    """A contact: a bare JID."""

    id = fields.String(required=True, validate=_BARE_JID)
    type = fields.String(required=True, validate=validate.OneOf(("person",)))


class RoomTarget(TargetSchema):
    """A multi-user chat room: its bare JID."""

    id = fields.String(required=True, validate=_BARE_JID)
    type = fields.String(required=True, validate=validate.OneOf(("room",)))
    name = short_string()


class AnyTarget(TargetSchema):
    """``send``: a person (``chat``) or a room (``groupchat``)."""

    id = fields.String(required=True, validate=_BARE_JID)
    type = fields.String(required=True, validate=validate.OneOf(("person", "room")))


class ReplaceSchema(StrictSchema):
    id = id_string(required=True)


# ``xmpp:replace`` is not a Python name, so this schema is built from a dict.
_SendBase: type[Schema] = StrictSchema.from_dict(
    {
        "type": fields.String(required=True, validate=validate.OneOf(("message",))),
        "id": id_string(),
        "content": content_string(required=True),
        "xmpp:replace": fields.Nested(ReplaceSchema),
    },
    name="XmppSendBase",
)


class SendObject(_SendBase):  # type: ignore[misc,valid-type]
    """A message; ``xmpp:replace: {id}`` corrects an earlier one (XEP-0308)."""

    @validates_schema
    def _needs_content(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("content"):
            raise ValidationError("a message needs content", "content")


class UpdateObject(StrictSchema):
    """``presence`` (with ``presence`` and an optional status ``content``) or a room ``topic``."""

    type = fields.String(required=True, validate=validate.OneOf(("presence", "topic")))
    presence = fields.String(validate=validate.OneOf(PRESENCE_STATES))
    content = content_string()

    @validates_schema
    def _shape(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") == "presence" and "presence" not in data:
            raise ValidationError(f"one of {', '.join(PRESENCE_STATES)}", "presence")
        if data.get("type") == "topic" and "presence" in data:
            raise ValidationError("a topic has no presence", "presence")


# XEP-0085 §2; the shared typing shape (docs/protocol.md), also meant for IRC's +typing.
TYPING_STATES = ("active", "composing", "paused", "inactive", "gone")


class TypingObject(StrictSchema):
    """``typing``: ``composing`` (typing now), ``paused``, ``active`` (not typing, in the
    conversation), ``inactive``, ``gone``."""

    type = fields.String(required=True, validate=validate.OneOf(("typing",)))
    state = fields.String(required=True, validate=validate.OneOf(TYPING_STATES))


class ReceiptObject(StrictSchema):
    """``receipt``: the message ``id`` reached its recipient (XEP-0184)."""

    type = fields.String(required=True, validate=validate.OneOf(("receipt",)))
    id = id_string(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("delivered",)))


class QueryObject(LogQueryFields):
    """``attendance``, ``room-info``, ``roster``, or ``history``/``search`` of the
    connection's own log (``chatlog``)."""

    type = fields.String(
        required=True,
        validate=validate.OneOf(("attendance", "room-info", "roster", *LOG_QUERIES)),
    )


class StatusObject(StrictSchema):
    """An optional text: the leave or disconnect status, a subscription request's note."""

    type = fields.String(required=True, validate=validate.OneOf(("message",)))
    content = content_string()


class QueryTarget(TargetSchema):
    id = fields.String(required=True, validate=_BARE_JID)
    type = fields.String(required=True, validate=validate.OneOf(("room", "person")))


def connection_identity(creds: Mapping[str, Any]) -> tuple[str, bool]:
    """What makes two XMPP connections the same one; the password is always part of it."""
    ident = {
        "jid": str(creds["userAddress"]).lower(),
        "resource": creds["resource"],
        "server": str(creds.get("server") or "").lower(),
        "port": creds.get("port") or 5222,
        "password": creds["password"],
        "allowInvalidCert": bool(creds.get("allowInvalidCert", False)),
    }
    return json.dumps(ident, sort_keys=True), True


def _v(name: str, **kw: Any) -> Verb:
    return Verb(name, needs_credentials=True, **kw)


PLATFORM = Platform(
    name="xmpp",
    connector="connectors.xmpp.connector:XmppConnector",
    verbs={
        "connect": _v("connect", timeout=45),
        "join": _v("join", target=RoomTarget, target_required=True),
        "leave": _v("leave", target=RoomTarget, target_required=True, object=StatusObject),
        "send": _v(
            "send", target=AnyTarget, target_required=True, object=SendObject, object_required=True
        ),
        "update": _v("update", target=RoomTarget, object=UpdateObject, object_required=True),
        "typing": _v(
            "typing",
            target=AnyTarget,
            target_required=True,
            object=TypingObject,
            object_required=True,
        ),
        "receipt": _v(
            "receipt",
            target=PersonTarget,
            target_required=True,
            object=ReceiptObject,
            object_required=True,
        ),
        "request-friend": _v(
            "request-friend", target=PersonTarget, target_required=True, object=StatusObject
        ),
        "remove-friend": _v("remove-friend", target=PersonTarget, target_required=True),
        "make-friend": _v("make-friend", target=PersonTarget, target_required=True),
        "query": _v("query", target=QueryTarget, object=QueryObject, object_required=True),
        "disconnect": _v("disconnect", object=StatusObject),
    },
    credentials=XmppCredentials,
    persistent=True,
    connection_identity=connection_identity,
    description="XMPP: connect, join, leave, send, update, typing, receipt, request-friend, "
    "make-friend, remove-friend, query, disconnect.",
)
