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


_HTTP_URL = validate.Regexp(r"^https?://[^\s/?#]+[^\s]*\Z", error="must be an http(s) URL")
_MEDIA_TYPE = validate.Regexp(
    r"^[A-Za-z0-9!#$&^_.+-]{1,127}/[A-Za-z0-9!#$&^_.+-]{1,127}(;[ -~]{0,200})?\Z",
    error="must be a media type such as image/png",
)
_FILE_NAME = [
    validate.Length(1, 255),
    validate.Regexp(r"^[^/\\\x00-\x1f\x7f]+\Z", error="must be a file name, without / or controls"),
]


class AttachmentObject(StrictSchema):
    """A link a message carries (XEP-0066), e.g. an uploaded file's ``url``."""

    type = fields.String(required=True, validate=validate.OneOf(("file",)))
    url = fields.String(required=True, validate=[validate.Length(1, 4096), _HTTP_URL])
    name = fields.String(validate=_FILE_NAME)
    mediaType = fields.String(validate=_MEDIA_TYPE)
    size = fields.Integer(strict=True, validate=validate.Range(0, 2**53))


class UploadObject(StrictSchema):
    """``upload``: the file the browser will send (XEP-0363): name, size, media type."""

    type = fields.String(required=True, validate=validate.OneOf(("file",)))
    name = fields.String(required=True, validate=_FILE_NAME)
    size = fields.Integer(required=True, strict=True, validate=validate.Range(1, 2**53))
    mediaType = fields.String(validate=_MEDIA_TYPE)


# ``xmpp:replace`` is not a Python name, so this schema is built from a dict.
_SendBase: type[Schema] = StrictSchema.from_dict(
    {
        "type": fields.String(required=True, validate=validate.OneOf(("message",))),
        "id": id_string(),
        "content": content_string(),
        "xmpp:replace": fields.Nested(ReplaceSchema),
        "attachment": fields.Nested(AttachmentObject),
        "inReplyTo": id_string(),
    },
    name="XmppSendBase",
)


class SendObject(_SendBase):  # type: ignore[misc,valid-type]
    """A message; ``xmpp:replace: {id}`` corrects an earlier one (XEP-0308);
    ``attachment: {type: file, url, name?}`` a link (XEP-0066), then ``content`` may be
    left out (the URL is the body); ``inReplyTo: <message id>`` makes it a reply
    (XEP-0461, the shared reply shape)."""

    @validates_schema
    def _needs_content(self, data: dict[str, Any], **_: Any) -> None:
        if not data.get("content") and not data.get("attachment"):
            raise ValidationError("a message needs content", "content")


# Avatars a page can show in <img> without running anything (no SVG), base64 as XEP-0084.
_AVATAR = validate.Regexp(
    r"^(data:image/(png|jpeg|gif|webp|avif);base64,[A-Za-z0-9+/]+={0,2})?\Z",
    error="a data:image/(png|jpeg|gif|webp|avif);base64 URI, or empty to remove the avatar",
)


class UpdateObject(StrictSchema):
    """``presence`` (with ``presence`` and an optional status ``content``), a room
    ``topic``, or our ``profile``: its ``image`` (our avatar, XEP-0084; empty removes it)."""

    type = fields.String(required=True, validate=validate.OneOf(("presence", "topic", "profile")))
    presence = fields.String(validate=validate.OneOf(PRESENCE_STATES))
    content = content_string()
    image = fields.String(validate=_AVATAR)

    @validates_schema
    def _shape(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") == "presence" and "presence" not in data:
            raise ValidationError(f"one of {', '.join(PRESENCE_STATES)}", "presence")
        if data.get("type") == "topic" and "presence" in data:
            raise ValidationError("a topic has no presence", "presence")
        if (data.get("type") == "profile") != ("image" in data):
            raise ValidationError("a profile update gives its image, and only it", "image")


# XEP-0085 §2; the shared typing shape (docs/protocol.md), also meant for IRC's +typing.
TYPING_STATES = ("active", "composing", "paused", "inactive", "gone")


class TypingObject(StrictSchema):
    """``typing``: ``composing`` (typing now), ``paused``, ``active`` (not typing, in the
    conversation), ``inactive``, ``gone``."""

    type = fields.String(required=True, validate=validate.OneOf(("typing",)))
    state = fields.String(required=True, validate=validate.OneOf(TYPING_STATES))


class ReceiptObject(StrictSchema):
    """``receipt``: the message ``id`` reached its recipient (``delivered``, XEP-0184, to a
    person), or the conversation ``target`` is read up to and including it (``read``,
    XEP-0333 displayed)."""

    type = fields.String(required=True, validate=validate.OneOf(("receipt",)))
    id = id_string(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("delivered", "read")))


class ReactionObject(StrictSchema):
    """``react``: one reaction to the message ``inReplyTo`` added, or removed with
    ``remove: true`` (XEP-0444; the connector sends the whole set the XEP wants)."""

    type = fields.String(required=True, validate=validate.OneOf(("reaction",)))
    inReplyTo = id_string(required=True)
    content = fields.String(
        required=True,
        validate=[
            validate.Length(1, 32),
            validate.Regexp(r"^\S(.*\S)?\Z", error="one emoji, without spaces around it"),
            _NO_CONTROL,
        ],
    )
    remove = fields.Boolean()


class DeleteObject(StrictSchema):
    """``delete``: retract our own message ``id`` (XEP-0424)."""

    type = fields.String(required=True, validate=validate.OneOf(("message",)))
    id = id_string(required=True)


class QueryObject(LogQueryFields):
    """``attendance``, ``room-info``, ``roster``, or ``history``/``search`` of the
    connection's own log (``chatlog``)."""

    type = fields.String(
        required=True,
        validate=validate.OneOf(("attendance", "room-info", "roster", "profile", *LOG_QUERIES)),
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
            target=AnyTarget,
            target_required=True,
            object=ReceiptObject,
            object_required=True,
        ),
        "react": _v(
            "react",
            target=AnyTarget,
            target_required=True,
            object=ReactionObject,
            object_required=True,
        ),
        "delete": _v(
            "delete",
            target=AnyTarget,
            target_required=True,
            object=DeleteObject,
            object_required=True,
        ),
        "request-friend": _v(
            "request-friend", target=PersonTarget, target_required=True, object=StatusObject
        ),
        "remove-friend": _v("remove-friend", target=PersonTarget, target_required=True),
        "make-friend": _v("make-friend", target=PersonTarget, target_required=True),
        "query": _v("query", target=QueryTarget, object=QueryObject, object_required=True),
        "disconnect": _v("disconnect", object=StatusObject),
        "upload": _v("upload", object=UploadObject, object_required=True),
    },
    credentials=XmppCredentials,
    persistent=True,
    connection_identity=connection_identity,
    description="XMPP: connect, join, leave, send, update, typing, receipt, react, delete, "
    "request-friend, make-friend, remove-friend, query, disconnect, upload.",
)
