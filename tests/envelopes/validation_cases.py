"""Every activity our validation tests send, with the verdict the gateway must give.

``tests/envelopes/test_validate.py`` runs these (and ``platform_cases.py``'s, which
``tests/connectors/xmpp/test_envelope_schema.py`` also runs) through ``validate_envelope``,
checking the error class and path;
``tests/envelopes/test_jsonschema_ajv.py`` runs the same ones through AJV with the
generated JSON Schemas and asserts the same verdict. A case is added here, once.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from envelopes.context import AS2_CONTEXT, SOCKETHUB_CONTEXT, context_for, platform_context_url
from envelopes.errors import ClientError, InvalidEnvelope, UnknownPlatform, UnknownVerb
from envelopes.registry import Platform, Registry, Verb, default_registry

__all__ = ["Case", "BASE", "REG", "OTHER_REGISTRY", "ACTOR", "env", "copied"]

REG = default_registry()
# A registry with a second platform whose verb takes neither object nor target.
OTHER_REGISTRY = Registry([*REG, Platform("other", "x:Y", {"echo": Verb("echo")})])
ACTOR = {"id": "me@example", "type": "person", "name": "Me"}
MSG = {"type": "message", "content": "x"}


@dataclass(frozen=True)
class Case:
    name: str
    activity: Any
    error: type[ClientError] | None = None  # None: valid
    path: str | None = None
    words: str | None = None
    registry: Registry = field(default=REG, compare=False)

    @property
    def valid(self) -> bool:
        return self.error is None


def env(verb: str = "echo", platform: str = "dummy", actor: Any = None, **parts: Any) -> dict:
    out = {"@context": context_for(platform), "type": verb, "actor": dict(actor or ACTOR)}
    out.update(parts)
    return out


def mutated(fn: Callable[[dict], Any]) -> dict:
    data = env(object=dict(MSG))
    fn(data)
    return data


def bad(name: str, fn: Callable[[dict], Any], error: type[ClientError], path: str, words: str):
    return Case(name, mutated(fn), error, path, words)


CTX2 = [AS2_CONTEXT, SOCKETHUB_CONTEXT]
_TWO = [
    AS2_CONTEXT,
    platform_context_url("dummy"),
    platform_context_url("other"),
    SOCKETHUB_CONTEXT,
]

BASE: list[Case] = [
    *(
        Case(f"dummy {v}", env(v, object={"type": "message", "content": "x"}))
        for v in ("echo", "greet", "fail", "throw")
    ),
    Case(
        "all fields",
        env(
            id="abc",
            target={"id": "room@x", "type": "room", "name": "#room"},
            object={"type": "message", "content": "hi", "id": "m1"},
            published="2026-01-01T00:00:00Z",
        ),
    ),
    Case(
        "string actor lacks its type",
        env(actor=None) | {"actor": "me"},
        InvalidEnvelope,
        "actor.type",
    ),
    Case("string object lacks its type", env(object="hello"), InvalidEnvelope, "object.type"),
    Case("credentials", env("credentials", object={"type": "credentials", "x": "y"})),
    Case(
        "credentials of type message",
        env("credentials", object={"type": "message"}),
        InvalidEnvelope,
        "object.type",
    ),
    Case("credentials without object", env("credentials"), InvalidEnvelope, "object"),
    bad(
        "no @context",
        lambda d: d.pop("@context"),
        InvalidEnvelope,
        "@context",
        "must contain an @context",
    ),
    bad(
        "@context a string",
        lambda d: d.update({"@context": "x"}),
        InvalidEnvelope,
        "@context",
        "array of strings",
    ),
    bad(
        "@context of two",
        lambda d: d.update({"@context": CTX2}),
        InvalidEnvelope,
        "@context",
        "exactly 3",
    ),
    bad(
        "@context without sockethub",
        lambda d: d.update({"@context": [AS2_CONTEXT, "x", platform_context_url("dummy")]}),
        InvalidEnvelope,
        "@context",
        SOCKETHUB_CONTEXT,
    ),
    bad(
        "@context of another site",
        lambda d: d.update({"@context": [*CTX2, "https://x.test/"]}),
        UnknownPlatform,
        "@context",
        "Unregistered platform @context value: https://x.test/",
    ),
    bad(
        "@context of an unknown platform",
        lambda d: d.update({"@context": [*CTX2, platform_context_url("zzz")]}),
        UnknownPlatform,
        "@context",
        "zzz",
    ),
    bad("no type", lambda d: d.pop("type"), InvalidEnvelope, "type", "type property"),
    bad("type a number", lambda d: d.update(type=5), InvalidEnvelope, "type", "string"),
    bad(
        "unknown verb", lambda d: d.update(type="dance"), UnknownVerb, "type", "(types: echo, greet"
    ),
    bad("no actor", lambda d: d.pop("actor"), InvalidEnvelope, "actor", "actor property"),
    bad(
        "actor a list",
        lambda d: d.update(actor=[]),
        InvalidEnvelope,
        "actor",
        "actor: Invalid input type",
    ),
    bad(
        "actor without id",
        lambda d: d["actor"].pop("id"),
        InvalidEnvelope,
        "actor.id",
        "Missing data",
    ),
    bad(
        "actor id empty",
        lambda d: d["actor"].update(id=""),
        InvalidEnvelope,
        "actor.id",
        "between 1",
    ),
    bad(
        "actor type alien",
        lambda d: d["actor"].update(type="alien"),
        InvalidEnvelope,
        "actor.type",
        "one of",
    ),
    bad(
        "actor name long",
        lambda d: d["actor"].update(name="n" * 300),
        InvalidEnvelope,
        "actor.name",
        "between",
    ),
    bad(
        "actor email",
        lambda d: d["actor"].update(email="x"),
        InvalidEnvelope,
        "actor.email",
        "Unknown",
    ),
    # Lengths count code points, not UTF-16 units: 256 emoji are 512 units in JavaScript.
    Case("actor name of 256 emoji", env(actor={**ACTOR, "name": "\U0001f600" * 256})),
    bad(
        "actor name of 257 emoji",
        lambda d: d["actor"].update(name="\U0001f600" * 257),
        InvalidEnvelope,
        "actor.name",
        "between",
    ),
    bad("id a number", lambda d: d.update(id=7), InvalidEnvelope, "id", "Not a valid string"),
    bad(
        "target without type",
        lambda d: d.update(target={"id": "x"}),
        InvalidEnvelope,
        "target.type",
        "Missing",
    ),
    bad(
        "target unknown field",
        lambda d: d.update(target={"id": "x", "type": "feed", "z": 1}),
        InvalidEnvelope,
        "target.z",
        "Unknown",
    ),
    bad(
        "object without type",
        lambda d: d.update(object={"content": "x"}),
        InvalidEnvelope,
        "object.type",
        "Missing",
    ),
    bad(
        "object of type note",
        lambda d: d.update(object={"type": "note", "content": "x"}),
        InvalidEnvelope,
        "object.type",
        "one of",
    ),
    bad(
        "content too long",
        lambda d: d.update(object={"type": "message", "content": "c" * 40000}),
        InvalidEnvelope,
        "object.content",
        "Longer than",
    ),
    bad(
        "published not a date",
        lambda d: d.update(published="not a date"),
        InvalidEnvelope,
        "published",
        "datetime",
    ),
    bad(
        "published without a zone",
        lambda d: d.update(published="2026-01-01T00:00:00"),
        InvalidEnvelope,
        "published",
        "aware datetime",
    ),
    bad(
        "unknown top-level field",
        lambda d: d.update(foo=1),
        InvalidEnvelope,
        "foo",
        "unknown field 'foo'",
    ),
    Case("not an object", [1], InvalidEnvelope, "", "not an object"),
    Case("two problems", env(actor={"id": 1, "type": "x"}), InvalidEnvelope, "actor.id"),
    Case(
        "two platform URLs",
        env() | {"@context": _TWO},
        UnknownPlatform,
        "@context",
        "Multiple platform @context values",
        OTHER_REGISTRY,
    ),
    Case(
        "four URLs",
        env() | {"@context": [*CTX2, platform_context_url("dummy"), "x"]},
        InvalidEnvelope,
        "@context",
        "exactly 3",
        OTHER_REGISTRY,
    ),
    Case("a verb without object or target", env(platform="other"), registry=OTHER_REGISTRY),
    Case(
        "a verb that takes no object",
        env(platform="other", object=dict(MSG)),
        InvalidEnvelope,
        "object",
        registry=OTHER_REGISTRY,
    ),
]


def copied(cases: list[Case]) -> list[Case]:
    """Fresh copies, so a test that touches an activity cannot change another's."""
    return [
        Case(c.name, copy.deepcopy(c.activity), c.error, c.path, c.words, c.registry) for c in cases
    ]
