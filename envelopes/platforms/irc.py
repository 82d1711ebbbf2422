"""The IRC platform: Sockethub's verbs and credentials, with one id convention.

Ids (the same in requests and events): a person is ``<nick>@<server>``, a channel
``<#channel>@<server>`` with ``name`` the channel, the server ``<server>``, where
``<server>`` is the host given in the credentials.

Credentials: ``nick`` and ``server`` required; ``port`` (default 6697 with TLS, 6667
without), ``secure`` (TLS, default true, certificate verified unless
``allowInvalidCert``), ``password`` (SASL PLAIN when the server offers it, else the server
password), ``username``, ``realname``. Every verb needs them: they name the connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from marshmallow import fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from ..registry import Platform, Verb
from ..schema import StrictSchema, TargetSchema, content_string, id_string, short_string

__all__ = ["PLATFORM", "IrcCredentials", "connection_identity"]

_NO_CONTROL = validate.Regexp(r"^[^\r\n\x00]*\Z", error="must not contain CR, LF or NUL")


class IrcCredentials(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(("credentials",)))
    nick = fields.String(required=True, validate=[validate.Length(1, 64), _NO_CONTROL])
    server = fields.String(required=True, validate=[validate.Length(1, 253), _NO_CONTROL])
    port = fields.Integer(validate=validate.Range(1, 65535), strict=True)
    secure = fields.Boolean()
    allowInvalidCert = fields.Boolean()
    password = fields.String(validate=[validate.Length(1, 512), _NO_CONTROL])
    username = fields.String(validate=[validate.Length(1, 64), _NO_CONTROL])
    realname = fields.String(validate=[validate.Length(1, 256), _NO_CONTROL])


class IrcObject(StrictSchema):
    type = fields.String(
        required=True,
        validate=validate.OneOf(("message", "me", "notice", "address", "topic", "attendance")),
    )
    id = id_string()
    content = content_string()


class SendObject(IrcObject):
    # A reply (docs/protocol.md "Reply"): the id of the message this one answers.
    inReplyTo = id_string()

    @validates_schema
    def _needs_content(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") not in ("message", "me", "notice"):
            raise ValidationError("send takes a message, me or notice", "type")
        if not data.get("content"):
            raise ValidationError("a message needs content", "content")


# The shared shapes of docs/protocol.md ("Shapes shared by the chat platforms"); IRC
# carries them as IRCv3 client tags (connectors/irc/tags.py).
TYPING_STATES = ("active", "composing", "paused", "inactive", "gone")


class TypingObject(StrictSchema):
    """``typing``: ``composing`` (typing now), ``paused``, ``active`` (stopped); IRC has no
    ``inactive`` or ``gone`` and sends them as ``done``, like ``active``."""

    type = fields.String(required=True, validate=validate.OneOf(("typing",)))
    state = fields.String(required=True, validate=validate.OneOf(TYPING_STATES))


class ReactionObject(StrictSchema):
    """``react``: one emoji added to (or, with ``remove: true``, taken from) the message
    ``inReplyTo`` names."""

    type = fields.String(required=True, validate=validate.OneOf(("reaction",)))
    inReplyTo = id_string(required=True)
    content = short_string(required=True, max_len=64)
    remove = fields.Boolean()


class RetractionObject(StrictSchema):
    """``delete``: the message ``id`` is withdrawn (IRCv3 draft/message-redaction)."""

    type = fields.String(required=True, validate=validate.OneOf(("message",)))
    id = id_string(required=True)


class RoomTarget(TargetSchema):
    name = short_string(required=False)


def connection_identity(creds: Mapping[str, Any]) -> tuple[str, bool]:
    """What makes two IRC connections the same one, and whether a secret is part of it."""
    secure = creds.get("secure", True)
    ident = {
        "server": str(creds["server"]).lower(),
        "port": creds.get("port") or (6697 if secure else 6667),
        "secure": secure,
        "nick": creds["nick"],
        "username": creds.get("username") or creds["nick"],
        "password": creds.get("password"),
        # A tab that wants the certificate checked must not ride on a connection that
        # skipped the check.
        "allowInvalidCert": bool(secure and creds.get("allowInvalidCert")),
    }
    return json.dumps(ident, sort_keys=True), bool(creds.get("password"))


def _v(name: str, **kw: Any) -> Verb:
    return Verb(name, needs_credentials=True, **kw)


PLATFORM = Platform(
    name="irc",
    connector="connectors.irc.connector:IrcConnector",
    verbs={
        "connect": _v("connect", timeout=45),
        "join": _v("join", target=RoomTarget, target_required=True, object=IrcObject),
        "leave": _v("leave", target=RoomTarget, target_required=True, object=IrcObject),
        "send": _v(
            "send", target=RoomTarget, target_required=True, object=SendObject, object_required=True
        ),
        "update": _v("update", target=RoomTarget, object=IrcObject, object_required=True),
        "query": _v(
            "query", target=RoomTarget, target_required=True, object=IrcObject, object_required=True
        ),
        "typing": _v(
            "typing",
            target=RoomTarget,
            target_required=True,
            object=TypingObject,
            object_required=True,
        ),
        "react": _v(
            "react",
            target=RoomTarget,
            target_required=True,
            object=ReactionObject,
            object_required=True,
        ),
        "delete": _v(
            "delete",
            target=RoomTarget,
            target_required=True,
            object=RetractionObject,
            object_required=True,
        ),
        "disconnect": _v("disconnect", object=IrcObject),
    },
    credentials=IrcCredentials,
    persistent=True,
    connection_identity=connection_identity,
    description="IRC: connect, join, leave, send, update (nick, topic), query, typing, react, "
    "delete, disconnect.",
)
