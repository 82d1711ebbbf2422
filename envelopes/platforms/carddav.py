"""The CardDAV platform: address books and contacts, as Sockethub's platform-carddav.

Credentials and actor as CalDAV's (``envelopes.platforms.caldav``). ``target`` is an
address book, ``{"id": <URL>, "type": "addressBook"}`` (``fetch`` takes none). Verbs:
``fetch``, ``query`` (``{type?: "contactQuery", text?, fields?, limit?}``), ``create`` (a
contact, ``type: "person"``), ``update`` (with ``id`` and ``etag``), ``delete``
(``{id, type, etag}``). Shapes: docs/caldav-and-carddav.md.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..registry import Platform
from ..schema import StrictSchema, short_string
from .caldav import UID, DavCredentials, DeleteObject, collection_target, dav_actor, dav_verbs, text
from .feeds import http_url

__all__ = ["PLATFORM"]

_TYPE = fields.String(validate=validate.Regexp(r"^[A-Za-z0-9-]{1,64}$", error="letters, digits, -"))


class Value(StrictSchema):
    value = fields.String(required=True, validate=validate.Length(1, 1024))
    types = fields.List(_TYPE, validate=validate.Length(max=16))
    preferred = fields.Boolean()


class PostalAddress(StrictSchema):
    postOfficeBox = text(256)
    extendedAddress = text(256)
    street = text(1024)
    locality = text(256)
    region = text(256)
    postalCode = text(64)
    country = text(256)
    types = fields.List(_TYPE, validate=validate.Length(max=16))
    preferred = fields.Boolean()


def _many(schema: type[StrictSchema]) -> fields.List:
    return fields.List(fields.Nested(schema), validate=validate.Length(max=100))


def _names() -> fields.List:
    return fields.List(short_string(), validate=validate.Length(max=16))


class Contact(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(("person",)))
    id = http_url()
    etag = short_string()
    uid = UID
    name = short_string(required=True, max_len=1024)
    givenName = short_string()
    familyName = short_string()
    additionalNames = _names()
    honorificPrefixes = _names()
    honorificSuffixes = _names()
    nickname = short_string()
    emails = _many(Value)
    telephones = _many(Value)
    urls = _many(Value)
    addresses = _many(PostalAddress)
    organization = short_string(max_len=1024)
    title = short_string(max_len=1024)
    role = short_string(max_len=1024)
    photoUrls = fields.List(http_url(), validate=validate.Length(max=16))
    note = text()
    birthday = fields.String(validate=validate.Length(1, 64))
    vcardVersion = fields.String(validate=validate.OneOf(("3.0", "4.0")))


class UpdateContact(Contact):
    id = http_url(required=True)
    etag = short_string(required=True)


class DeleteContact(DeleteObject):
    type = fields.String(required=True, validate=validate.OneOf(("person",)))


# ``fields`` is also a Schema attribute, so this schema is built from a dict.
ContactQuery: type[Schema] = StrictSchema.from_dict(
    {
        "type": fields.String(validate=validate.OneOf(("contactQuery",))),
        "text": fields.String(validate=validate.Length(1, 256)),
        "fields": fields.List(
            fields.String(validate=validate.OneOf(("name", "email", "telephone", "organization"))),
            validate=validate.Length(min=1, max=4),
        ),
        "limit": fields.Integer(strict=True, validate=validate.Range(1, 1000)),
    },
    name="ContactQuery",
)


PLATFORM = Platform(
    name="carddav",
    connector="connectors.carddav:CarddavConnector",
    verbs=dav_verbs(
        collection_target("addressBook"), ContactQuery, Contact, UpdateContact, DeleteContact
    ),
    credentials=DavCredentials,
    actor=dav_actor,
    description="CardDAV address books: fetch (discover), query (contacts), create, update "
    "and delete (with the ETag), vCard 3.0 and 4.0.",
)
