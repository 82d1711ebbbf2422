"""The CalDAV platform: calendars, events and tasks, as Sockethub's platform-caldav.

Every verb needs credentials, ``{"type": "credentials", "url", "username", "password"}``
or ``{"type": "credentials", "url", "token"}`` (Bearer); ``url`` is the service (or the
user's principal). ``target`` is a calendar, ``{"id": <URL>, "type": "calendar"}``
(``fetch`` takes none: it lists them). Verbs: ``fetch``, ``query`` (``{type?: "event" |
"task", startTime?, endTime?}``), ``create`` (an item), ``update`` (an item with ``id``
and ``etag``), ``delete`` (``{id, type, etag}``). Shapes: docs/caldav-and-carddav.md.

``dav_credentials``, ``dav_actor``, ``collection_target``, ``DeleteObject`` and ``_v``
are shared with the CardDAV platform.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..registry import Platform, Verb
from ..schema import MAX_CONTENT, StrictSchema, id_string, short_string
from .feeds import http_url

__all__ = ["PLATFORM", "DavCredentials", "collection_target", "dav_actor", "dav_verbs"]

DAV_TIMEOUT = 60.0  # seconds: a verb makes two to four requests of 15 s at most each
_NO_CONTROL = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters")
# RFC 5545 allows any text, but a UID names the item's file (<uid>.ics): keep it plain.
UID = fields.String(
    validate=[
        validate.Length(1, 255),
        validate.Regexp(r"^[^\x00-\x1f\x7f%/\\]+$", error="no control characters, %, / or \\"),
    ]
)


class DavCredentials(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(("credentials",)))
    url = http_url(required=True)
    username = fields.String(validate=[validate.Length(1, 256), _NO_CONTROL])
    password = fields.String(validate=[validate.Length(1, 1024), _NO_CONTROL])
    token = fields.String(validate=[validate.Length(1, 4096), _NO_CONTROL])

    @validates_schema
    def _one_way(self, data: dict[str, Any], **_: Any) -> None:
        if "token" in data:
            if "username" in data or "password" in data:
                raise ValidationError("give a token, or a username and password, not both")
        elif "username" not in data or "password" not in data:
            raise ValidationError("give a username and password, or a token", "username")


dav_actor: type[Schema] = StrictSchema.from_dict(
    {
        "id": id_string(required=True),
        "type": fields.String(required=True, validate=validate.OneOf(("person",))),
        "name": short_string(),
    },
    name="DavActor",
)


def collection_target(kind: str) -> type[Schema]:
    return StrictSchema.from_dict(
        {
            "id": http_url(required=True),
            "type": fields.String(required=True, validate=validate.OneOf((kind,))),
            "name": short_string(),
        },
        name=f"{kind[0].upper()}{kind[1:]}Target",
    )


def text(max_len: int = MAX_CONTENT) -> fields.String:
    return fields.String(validate=validate.Length(max=max_len))


def when() -> fields.String:
    return fields.String(validate=validate.Length(10, 64))


class Person(StrictSchema):
    email = fields.String(required=True, validate=[validate.Length(3, 320), _NO_CONTROL])
    name = short_string()
    role = fields.String(
        validate=validate.OneOf(("chair", "required", "optional", "non-participant"))
    )
    status = fields.String(
        validate=validate.OneOf(("needs-action", "accepted", "declined", "tentative", "delegated"))
    )
    rsvp = fields.Boolean()


class Recurrence(StrictSchema):
    frequency = fields.String(
        required=True, validate=validate.OneOf(("daily", "weekly", "monthly", "yearly"))
    )
    interval = fields.Integer(strict=True, validate=validate.Range(1, 1000))
    count = fields.Integer(strict=True, validate=validate.Range(1, 10000))
    until = when()
    byDay = fields.List(
        fields.String(
            validate=validate.Regexp(r"^[+-]?([1-9]|[1-4][0-9]|5[0-3])?(MO|TU|WE|TH|FR|SA|SU)$")
        ),
        validate=validate.Length(max=64),
    )
    byMonthDay = fields.List(
        fields.Integer(strict=True, validate=validate.Range(-31, 31)),
        validate=validate.Length(max=62),
    )

    @validates_schema
    def _count_or_until(self, data: dict[str, Any], **_: Any) -> None:
        if "count" in data and "until" in data:
            raise ValidationError("count or until, not both", "until")


class Reminder(StrictSchema):
    trigger = fields.String(required=True, validate=validate.Length(2, 64))
    action = fields.String(validate=validate.OneOf(("display", "email")))
    description = text(1024)


class Item(StrictSchema):
    """An event or a task; ``id`` and ``etag`` (and ``uid``) name a stored one."""

    type = fields.String(required=True, validate=validate.OneOf(("event", "task")))
    id = http_url()
    etag = short_string()
    uid = UID
    name = short_string(required=True, max_len=1024)
    content = text()
    location = text(1024)
    url = http_url()
    sequence = fields.Integer(strict=True, validate=validate.Range(0, 2**31 - 1))
    startTime = when()
    endTime = when()
    due = when()
    allDay = fields.Boolean()
    timeZone = fields.String(validate=validate.Length(1, 64))
    status = fields.String(
        validate=validate.OneOf(
            ("needs-action", "in-process", "completed", "cancelled", "tentative", "confirmed")
        )
    )
    completedTime = when()
    percentComplete = fields.Integer(strict=True, validate=validate.Range(0, 100))
    recurrence = fields.Nested(Recurrence, allow_none=True)
    organizer = fields.Nested(Person)
    attendees = fields.List(fields.Nested(Person), validate=validate.Length(max=500))
    reminders = fields.List(fields.Nested(Reminder), validate=validate.Length(max=50))


class UpdateItem(Item):
    id = http_url(required=True)
    etag = short_string(required=True)


class DeleteObject(StrictSchema):
    id = http_url(required=True)
    type = short_string(required=True)
    etag = short_string(required=True)


class DeleteItem(DeleteObject):
    type = fields.String(required=True, validate=validate.OneOf(("event", "task")))


class CalendarQuery(StrictSchema):
    type = fields.String(validate=validate.OneOf(("event", "task")))
    startTime = when()
    endTime = when()


def _v(name: str, **kw: Any) -> Verb:
    return Verb(name, needs_credentials=True, timeout=DAV_TIMEOUT, **kw)


def dav_verbs(
    target: type[Schema],
    query: type[Schema],
    item: type[Schema],
    update: type[Schema],
    delete: type[Schema],
) -> dict[str, Verb]:
    def on(name: str, obj: type[Schema], required: bool = True) -> Verb:
        return _v(name, target=target, target_required=True, object=obj, object_required=required)

    return {
        "fetch": _v("fetch"),
        "query": on("query", query, required=False),
        "create": on("create", item),
        "update": on("update", update),
        "delete": on("delete", delete),
    }


PLATFORM = Platform(
    name="caldav",
    connector="connectors.caldav:CaldavConnector",
    verbs=dav_verbs(collection_target("calendar"), CalendarQuery, Item, UpdateItem, DeleteItem),
    credentials=DavCredentials,
    actor=dav_actor,
    description="CalDAV calendars: fetch (discover), query (events, tasks in a range), "
    "create, update and delete (with the ETag).",
)
