from __future__ import annotations

import pytest

from envelopes.context import AS2_CONTEXT, SOCKETHUB_CONTEXT, context_for, platform_context_url
from envelopes.errors import InvalidEnvelope, UnknownPlatform, UnknownVerb
from envelopes.registry import default_registry
from envelopes.validate import validate_envelope

REG = default_registry()
ACTOR = {"id": "me@example", "type": "person", "name": "Me"}


def env(verb="echo", **parts):
    out = {"@context": context_for("dummy"), "type": verb, "actor": dict(ACTOR)}
    out.update(parts)
    return out


@pytest.mark.parametrize("verb", ["echo", "greet", "fail", "throw"])
def test_every_dummy_verb_valid(verb):
    e = validate_envelope(env(verb, object={"type": "message", "content": "x"}), REG)
    assert e.platform.name == "dummy" and e.verb == verb
    assert e.activity["object"]["content"] == "x"


def test_all_fields_valid():
    e = validate_envelope(
        env(
            id="abc",
            target={"id": "room@x", "type": "room", "name": "#room"},
            object={"type": "message", "content": "hi", "id": "m1"},
            published="2026-01-01T00:00:00Z",
        ),
        REG,
    )
    assert e.activity["published"] == "2026-01-01T00:00:00Z"
    assert e.activity["target"]["name"] == "#room"
    assert e.actor_id == "me@example"


def test_string_shorthands_normalized():
    # Sockethub's shorthands: a string actor is {id} (which then lacks its type) ...
    with pytest.raises(InvalidEnvelope) as info:
        validate_envelope(env(actor="me"), REG)
    assert info.value.path == "actor.type"
    # ... and a string object is {content}
    with pytest.raises(InvalidEnvelope) as info:
        validate_envelope(env(object="hello"), REG)
    assert info.value.path == "object.type"


def test_credentials_envelope():
    e = validate_envelope(env("credentials", object={"type": "credentials", "x": "y"}), REG)
    assert e.verb == "credentials"
    with pytest.raises(InvalidEnvelope) as info:
        validate_envelope(env("credentials", object={"type": "message"}), REG)
    assert info.value.path == "object.type"
    with pytest.raises(InvalidEnvelope) as info:
        validate_envelope(env("credentials"), REG)
    assert info.value.path == "object"


@pytest.mark.parametrize(
    "mutate,exc,path,words",
    [
        (lambda d: d.pop("@context"), InvalidEnvelope, "@context", "must contain an @context"),
        (lambda d: d.update({"@context": "x"}), InvalidEnvelope, "@context", "array of strings"),
        (
            lambda d: d.update({"@context": [AS2_CONTEXT, SOCKETHUB_CONTEXT]}),
            InvalidEnvelope,
            "@context",
            "exactly 3",
        ),
        (
            lambda d: d.update({"@context": [AS2_CONTEXT, "x", platform_context_url("dummy")]}),
            InvalidEnvelope,
            "@context",
            SOCKETHUB_CONTEXT,
        ),
        (
            lambda d: d.update({"@context": [AS2_CONTEXT, SOCKETHUB_CONTEXT, "https://x.test/"]}),
            UnknownPlatform,
            "@context",
            "Unregistered platform @context value: https://x.test/",
        ),
        (
            lambda d: d.update(
                {"@context": [AS2_CONTEXT, SOCKETHUB_CONTEXT, platform_context_url("zzz")]}
            ),
            UnknownPlatform,
            "@context",
            "zzz",
        ),
        (lambda d: d.pop("type"), InvalidEnvelope, "type", "type property"),
        (lambda d: d.update(type=5), InvalidEnvelope, "type", "string"),
        (lambda d: d.update(type="dance"), UnknownVerb, "type", "(types: echo, greet"),
        (lambda d: d.pop("actor"), InvalidEnvelope, "actor", "actor property"),
        (lambda d: d.update(actor=[]), InvalidEnvelope, "actor", "actor: Invalid input type"),
        (lambda d: d["actor"].pop("id"), InvalidEnvelope, "actor.id", "Missing data"),
        (lambda d: d["actor"].update(id=""), InvalidEnvelope, "actor.id", "between 1"),
        (lambda d: d["actor"].update(type="alien"), InvalidEnvelope, "actor.type", "one of"),
        (lambda d: d["actor"].update(name="n" * 300), InvalidEnvelope, "actor.name", "between"),
        (lambda d: d["actor"].update(email="x"), InvalidEnvelope, "actor.email", "Unknown"),
        (lambda d: d.update(id=7), InvalidEnvelope, "id", "Not a valid string"),
        (lambda d: d.update(target={"id": "x"}), InvalidEnvelope, "target.type", "Missing"),
        (
            lambda d: d.update(target={"id": "x", "type": "feed", "z": 1}),
            InvalidEnvelope,
            "target.z",
            "Unknown",
        ),
        (lambda d: d.update(object={"content": "x"}), InvalidEnvelope, "object.type", "Missing"),
        (
            lambda d: d.update(object={"type": "note", "content": "x"}),
            InvalidEnvelope,
            "object.type",
            "one of",
        ),
        (
            lambda d: d.update(object={"type": "message", "content": "c" * 40000}),
            InvalidEnvelope,
            "object.content",
            "Longer than",
        ),
        (lambda d: d.update(published="not a date"), InvalidEnvelope, "published", "datetime"),
        (
            lambda d: d.update(published="2026-01-01T00:00:00"),
            InvalidEnvelope,
            "published",
            "aware datetime",
        ),
        (lambda d: d.update(foo=1), InvalidEnvelope, "foo", "unknown field 'foo'"),
    ],
)
def test_invalid_fields_named(mutate, exc, path, words):
    data = env(object={"type": "message", "content": "x"})
    mutate(data)
    with pytest.raises(exc) as info:
        validate_envelope(data, REG)
    assert info.value.path == path
    assert words in info.value.message


def test_not_an_object():
    with pytest.raises(InvalidEnvelope, match="not an object"):
        validate_envelope([1], REG)


def test_details_list_every_problem():
    data = env(actor={"id": 1, "type": "x"})
    with pytest.raises(InvalidEnvelope) as info:
        validate_envelope(data, REG)
    paths = {d["path"] for d in info.value.details}
    assert paths == {"actor.id", "actor.type"}


def test_two_platform_urls_refused_naming_both():
    from envelopes.registry import Platform, Registry, Verb

    reg = Registry([*REG, Platform("other", "x:Y", {"echo": Verb("echo")})])
    data = env()
    data["@context"] = [AS2_CONTEXT, platform_context_url("dummy"), platform_context_url("other")]
    data["@context"].append(SOCKETHUB_CONTEXT)
    with pytest.raises(UnknownPlatform) as info:
        validate_envelope(data, reg)
    assert "Multiple platform @context values" in info.value.message
    assert platform_context_url("other") in info.value.message
    data["@context"] = [AS2_CONTEXT, SOCKETHUB_CONTEXT, platform_context_url("dummy"), "x"]
    with pytest.raises(InvalidEnvelope, match="exactly 3"):
        validate_envelope(data, reg)
