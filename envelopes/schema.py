"""Shared marshmallow schemas for the parts of an AS2 envelope.

Every schema refuses unknown fields (marshmallow's default ``RAISE``, set explicitly on each
so nested schemas keep it) and every string has a length cap, so nothing unbounded reaches
a queue. Platforms compose their verbs from these.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

__all__ = [
    "ACTOR_TYPES",
    "TARGET_TYPES",
    "MAX_ID",
    "MAX_NAME",
    "MAX_CONTENT",
    "StrictSchema",
    "ActorSchema",
    "TargetSchema",
    "MessageObjectSchema",
    "short_string",
    "id_string",
    "content_string",
]

ACTOR_TYPES = ("person", "room", "service", "feed", "website", "platform")
TARGET_TYPES = ACTOR_TYPES + ("address",)

MAX_ID = 1024
MAX_NAME = 256
MAX_CONTENT = 32 * 1024


def short_string(*, required: bool = False, max_len: int = MAX_NAME, **kw) -> fields.String:
    return fields.String(required=required, validate=validate.Length(min=1, max=max_len), **kw)


def id_string(*, required: bool = False) -> fields.String:
    return short_string(required=required, max_len=MAX_ID)


def content_string(*, required: bool = False) -> fields.String:
    return fields.String(required=required, validate=validate.Length(max=MAX_CONTENT))


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class ActorSchema(StrictSchema):
    id = id_string(required=True)
    type = fields.String(required=True, validate=validate.OneOf(ACTOR_TYPES))
    name = short_string()


class TargetSchema(StrictSchema):
    id = id_string(required=True)
    type = fields.String(required=True, validate=validate.OneOf(TARGET_TYPES))
    name = short_string()


class MessageObjectSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(("message",)))
    id = id_string()
    content = content_string(required=True)
