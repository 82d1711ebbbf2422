"""The CalDAV and CardDAV validation cases, run with the other platforms' (``platform_cases``)."""

from __future__ import annotations

from typing import Any

from envelopes.errors import InvalidEnvelope

from .validation_cases import Case, env

__all__ = ["DAV"]

ME = {"id": "alice", "type": "person"}
LOGIN = {"type": "credentials", "url": "https://dav.example/", "username": "a", "password": "p"}
CAL = {"id": "https://dav.example/alice/work/", "type": "calendar"}
BOOK = {"id": "https://dav.example/alice/contacts/", "type": "addressBook"}
EVENT = {"type": "event", "name": "Planning", "startTime": "2026-08-03T15:00:00Z"}
ITEM = "https://dav.example/alice/work/p.ics"


def c(verb: str, **parts: Any) -> dict:
    return env(verb, "caldav", actor=ME, **parts)


def k(verb: str, **parts: Any) -> dict:
    return env(verb, "carddav", actor=ME, **parts)


def no(name: str, activity: dict, path: str) -> Case:
    return Case(name, activity, InvalidEnvelope, path)


DAV: list[Case] = [
    Case("caldav credentials with a password", c("credentials", object=LOGIN)),
    Case(
        "carddav credentials with a token",
        k("credentials", object={"type": "credentials", "url": "https://d.example/", "token": "t"}),
    ),
    no(
        "dav credentials with a token and a password",
        c("credentials", object={**LOGIN, "token": "t"}),
        "object",
    ),
    no(
        "dav credentials without a password",
        c("credentials", object={**LOGIN, "password": None}),
        "object.password",
    ),
    Case("caldav fetch", c("fetch")),
    no("caldav fetch with a target", c("fetch", target=CAL), "target"),
    Case(
        "caldav query in a range",
        c("query", target=CAL, object={"type": "event", "startTime": "2026-08-01T00:00:00Z"}),
    ),
    Case("caldav query without object", c("query", target=CAL)),
    no("caldav query of an address book", c("query", target=BOOK), "target.type"),
    Case(
        "caldav create a recurring event",
        c(
            "create",
            target=CAL,
            object={
                **EVENT,
                "recurrence": {"frequency": "weekly", "count": 4, "byDay": ["MO", "-1FR"]},
            },
        ),
    ),
    no(
        "caldav recurrence with count and until",
        c(
            "create",
            target=CAL,
            object={
                **EVENT,
                "recurrence": {"frequency": "weekly", "count": 4, "until": "2026-09-01T00:00:00Z"},
            },
        ),
        "object.recurrence.until",
    ),
    no(
        "caldav uid naming another file",
        c("create", target=CAL, object={**EVENT, "uid": "../x"}),
        "object.uid",
    ),
    no(
        "caldav update without etag",
        c("update", target=CAL, object={**EVENT, "id": ITEM}),
        "object.etag",
    ),
    Case(
        "caldav delete",
        c("delete", target=CAL, object={"id": ITEM, "type": "event", "etag": '"e"'}),
    ),
    Case(
        "carddav create a contact",
        k(
            "create",
            target=BOOK,
            object={
                "type": "person",
                "name": "Bob",
                "emails": [{"value": "bob@example.com", "types": ["work"], "preferred": True}],
                "vcardVersion": "3.0",
            },
        ),
    ),
    Case(
        "carddav query by text and fields",
        k(
            "query",
            target=BOOK,
            object={"type": "contactQuery", "text": "bo", "fields": ["name"], "limit": 5},
        ),
    ),
    no(
        "carddav query by an unknown field",
        k("query", target=BOOK, object={"fields": ["age"]}),
        "object.fields.0",
    ),
]
