"""The feeds platform: ``fetch`` an RSS or Atom feed, as Sockethub's platform-feeds does, and
``follow`` one: new items then arrive as events until ``unfollow`` or the session's end.

Request: ``actor`` is the feed, ``{"id": <http(s) URL>, "type": "feed"}``; an optional
``object`` narrows the answer: ``since`` (an RFC 3339 date-time with a time zone: only
items published after it) and ``limit`` (an integer >= 1: only the newest N; the worker
refuses more than ``SOCKETHUB_FEED_MAX_ITEMS`` and sends ``SOCKETHUB_FEED_ITEMS`` when it
is absent, settings this schema cannot see). The reply is a ``collection`` of ``post``
activities (``docs/feeds-and-metadata.md``).

``follow``/``unfollow`` take the same actor (a feed URL, or a page URL whose
``<link rel="alternate">`` names the feed); ``opml-import`` (object ``{"type": "opml",
"content": <OPML text>}``) and ``opml-export`` are about the session's follows, so their
actor is the session's user, any actor as other platforms take it.

The URL rule here is the first line of defence only: the worker's guarded HTTP client
checks the scheme again, and every address, on every redirect.

``web_actor`` and ``http_url`` are shared with the metadata platform.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from marshmallow import Schema, ValidationError, fields, validate

from ..registry import Platform, Verb
from ..schema import ActorSchema, StrictSchema, short_string

__all__ = [
    "PLATFORM",
    "MAX_URL",
    "MAX_OPML",
    "FETCH_TIMEOUT",
    "http_url",
    "web_actor",
    "FeedParameters",
    "OpmlImport",
    "OpmlExport",
]

MAX_URL = 2048  # what browsers and servers commonly accept; longer is not a real feed URL
FETCH_TIMEOUT = 30.0  # seconds: the guarded fetch (20 s at most) plus a shared wait or two
# An OPML list's characters. The frame cap (SOCKETHUB_MAX_FRAME_BYTES) is what binds first;
# this only keeps the schema's string bounded whatever that is set to.
MAX_OPML = 4 * 1024 * 1024


def _check_url(value: str) -> None:
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ValidationError("must be a URL without spaces or control characters")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError as exc:
        raise ValidationError(f"not a valid URL: {exc}") from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"'{parts.scheme}:'" if parts.scheme else "no scheme"
        raise ValidationError(f"must be an http or https URL (got {shown})")
    if not parts.hostname:
        raise ValidationError("must be an http or https URL with a host")


def http_url(*, required: bool = False) -> fields.String:
    """An absolute http(s) URL with a host, at most ``MAX_URL`` characters."""
    return fields.String(
        required=required, validate=[validate.Length(min=1, max=MAX_URL), _check_url]
    )


def web_actor(kind: str) -> type[Schema]:
    """The actor of a fetch: the thing fetched, ``{"id": <URL>, "type": kind, "name"?}``."""
    return StrictSchema.from_dict(
        {
            "id": http_url(required=True),
            "type": fields.String(required=True, validate=validate.OneOf((kind,))),
            "name": short_string(),
        },
        name=f"{kind.capitalize()}Actor",
    )


def _check_datetime(value: str) -> None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or "T" not in value.upper() or moment.tzinfo is None:
        raise ValidationError(
            "must be an RFC 3339 date-time with a time zone, e.g. 2025-01-31T09:00:00Z"
        )


class FeedParameters(StrictSchema):
    """What to keep of the feed. ``type`` is accepted for AS2-minded clients and ignored."""

    type = short_string()
    # A string on the wire and in the queue: the connector parses it (JSON has no dates).
    since = fields.String(validate=[validate.Length(max=64), _check_datetime])
    limit = fields.Integer(strict=True, validate=validate.Range(min=1))


class OpmlImport(StrictSchema):
    """An OPML document's text: every outline with an ``xmlUrl`` is followed."""

    type = fields.String(required=True, validate=validate.OneOf(("opml",)))
    content = fields.String(required=True, validate=validate.Length(min=1, max=MAX_OPML))


class OpmlExport(StrictSchema):
    type = fields.String(required=True, validate=validate.OneOf(("opml",)))


PLATFORM = Platform(
    name="feeds",
    connector="connectors.feeds:FeedsConnector",
    verbs={
        "fetch": Verb("fetch", object=FeedParameters, timeout=FETCH_TIMEOUT),
        "follow": Verb("follow", object=FeedParameters, timeout=FETCH_TIMEOUT),
        "unfollow": Verb("unfollow"),
        "opml-import": Verb(
            "opml-import", actor=ActorSchema, object=OpmlImport, object_required=True
        ),
        "opml-export": Verb("opml-export", actor=ActorSchema, object=OpmlExport),
    },
    actor=web_actor("feed"),
    background=True,
    description="RSS and Atom feeds: fetch (since, limit) through a shared cache; follow "
    "and unfollow (new items as events), OPML import and export of the session's follows.",
)
