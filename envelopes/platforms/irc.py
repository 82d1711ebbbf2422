"""The IRC platform: Sockethub's verbs and credentials, with one id convention.

Ids (the same in requests and events): a person is ``<nick>@<server>``, a channel
``<#channel>@<server>`` with ``name`` the channel, the server ``<server>``, where
``<server>`` is the host given in the credentials.

Credentials: ``nick`` and ``server`` required; ``port`` (default 6697 with TLS, 6667
without), ``secure`` (TLS, default true, certificate verified unless
``allowInvalidCert``), ``password`` (SASL PLAIN when the server offers it, else the server
password), ``username``, ``realname``. Every verb needs them: they name the connection.

People (docs/irc.md "People"), each only where the server offers its IRCv3 part:
``update`` ``{type: "presence", presence, content}`` sets us away or back (AWAY), and
others' away changes arrive in that form (away-notify); ``update`` ``{type: "profile",
realName}`` sets our real name (setname), and others' ``account``/``host``/``realName``
changes arrive as ``update`` ``{type: "profile", ...}`` events (account-notify, chghost,
setname); ``query`` a person with ``{type: "presence"}`` watches them (MONITOR) and
answers ``online``/``offline``; ``invite`` events name who was invited where
(invite-notify). Actors carry ``account``, ``host`` and ``realName`` where the line says.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from marshmallow import fields, validate, validates_schema
from marshmallow.exceptions import ValidationError

from ..registry import Platform, Verb
from ..schema import StrictSchema, TargetSchema, content_string, id_string, short_string
from .chatlog import LOG_QUERIES, LogQueryFields

__all__ = ["PLATFORM", "PRESENCE_STATES", "IrcCredentials", "connection_identity"]

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


# The shared presence states (docs/protocol.md, "Shapes shared by the chat platforms").
PRESENCE_STATES = ("online", "away", "chat", "dnd", "xa", "offline")


class UpdateObject(StrictSchema):
    """``address`` (NICK), ``topic``, ``presence`` (AWAY: ``presence`` and an optional
    away message ``content``) or ``profile`` (SETNAME: ``realName``)."""

    type = fields.String(
        required=True, validate=validate.OneOf(("address", "topic", "presence", "profile"))
    )
    content = content_string()
    presence = fields.String(validate=validate.OneOf(PRESENCE_STATES))
    realName = fields.String(validate=[validate.Length(1, 256), _NO_CONTROL])

    @validates_schema
    def _fits_type(self, data: dict[str, Any], **_: Any) -> None:
        kind = data.get("type")
        if kind == "presence" and "presence" not in data:
            raise ValidationError(f"one of {', '.join(PRESENCE_STATES)}", "presence")
        if kind != "presence" and "presence" in data:
            raise ValidationError("only a presence update has a presence", "presence")
        if kind == "profile" and "realName" not in data:
            raise ValidationError("a profile update sets realName", "realName")
        if kind != "profile" and "realName" in data:
            raise ValidationError("only a profile update sets realName", "realName")


class QueryObject(LogQueryFields):
    """``attendance`` of a room (NAMES), ``presence`` of a person (MONITOR: answers
    ``online``/``offline`` and watches them; ``watch: false`` stops watching), ``profile``
    (WHOIS of a person: docs/protocol.md, Profile), ``rooms`` (the server's channel list:
    ``search`` by name and topic, paged by ``cursor``, ``limit`` 1..500), or
    ``history``/``search`` of the connection's own log."""

    type = fields.String(
        required=True,
        validate=validate.OneOf(("attendance", "presence", "profile", "rooms", *LOG_QUERIES)),
    )
    watch = fields.Boolean()
    id = id_string()
    search = fields.String(validate=[validate.Length(1, 200), _NO_CONTROL])

    @validates_schema
    def _fits_type(self, data: dict[str, Any], **_: Any) -> None:
        if "watch" in data and data.get("type") != "presence":
            raise ValidationError("only a presence query watches", "watch")
        if "search" in data and data.get("type") != "rooms":
            raise ValidationError("only a rooms query has search (a search has content)", "search")


class ReceiptObject(StrictSchema):
    """``receipt`` with ``status: read``: the conversation named by ``target`` is read up to
    and including message ``id`` (the shared shape, docs/protocol.md). IRC has no delivery
    receipts."""

    type = fields.String(required=True, validate=validate.OneOf(("receipt",)))
    id = id_string(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("read",)))


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
    client_address="irc_webirc",  # WEBIRC: connectors/irc/webirc.py
    verbs={
        "connect": _v("connect", timeout=45),
        "join": _v("join", target=RoomTarget, target_required=True, object=IrcObject),
        "leave": _v("leave", target=RoomTarget, target_required=True, object=IrcObject),
        "send": _v(
            "send", target=RoomTarget, target_required=True, object=SendObject, object_required=True
        ),
        "update": _v("update", target=RoomTarget, object=UpdateObject, object_required=True),
        "query": _v(
            "query",
            target=RoomTarget,
            target_required=True,
            object=QueryObject,
            object_required=True,
        ),
        "receipt": _v(
            "receipt",
            target=RoomTarget,
            target_required=True,
            object=ReceiptObject,
            object_required=True,
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
    description=(
        "IRC: connect, join, leave, send, update (nick, topic, away, real name), query "
        "(names, presence, profile, channel list, history, search), receipt (read markers), "
        "typing, react, delete, disconnect."
    ),
)
