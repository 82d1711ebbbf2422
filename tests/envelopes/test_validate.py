"""validate_envelope on every case of ``validation_cases.py`` and ``platform_cases.py``.

The activities live in those modules so the JSON Schema agreement test
(``test_jsonschema_ajv.py``) runs exactly the same ones; what is checked here is the
gateway's own answer: the error class, the path of the first offending field, its words.
"""

from __future__ import annotations

import pytest

from envelopes.errors import InvalidEnvelope
from envelopes.validate import validate_envelope

from .platform_cases import FEEDS, IRC, METADATA
from .validation_cases import BASE, REG, Case, copied


def check(case: Case) -> None:
    if case.valid:
        validate_envelope(case.activity, case.registry)
        return
    assert case.error is not None
    with pytest.raises(case.error) as info:
        validate_envelope(case.activity, case.registry)
    if case.path is not None:
        assert info.value.path == case.path
    if case.words is not None:
        assert case.words in info.value.message


@pytest.mark.parametrize("case", copied([*BASE, *IRC, *FEEDS, *METADATA]), ids=lambda c: c.name)
def test_case(case: Case):
    check(case)


def by_name(name: str) -> Case:
    return next(c for c in copied(BASE) if c.name == name)


@pytest.mark.parametrize("verb", ["echo", "greet", "fail", "throw"])
def test_every_dummy_verb_valid(verb):
    e = validate_envelope(by_name(f"dummy {verb}").activity, REG)
    assert e.platform.name == "dummy" and e.verb == verb
    assert e.activity["object"]["content"] == "x"


def test_all_fields_valid():
    e = validate_envelope(by_name("all fields").activity, REG)
    assert e.activity["published"] == "2026-01-01T00:00:00Z"
    assert e.activity["target"]["name"] == "#room"
    assert e.actor_id == "me@example"


def test_credentials_envelope():
    e = validate_envelope(by_name("credentials").activity, REG)
    assert e.verb == "credentials"


def test_details_list_every_problem():
    with pytest.raises(InvalidEnvelope) as info:
        validate_envelope(by_name("two problems").activity, REG)
    paths = {d["path"] for d in info.value.details}
    assert paths == {"actor.id", "actor.type"}


def test_two_platform_urls_refused_naming_both():
    case = by_name("two platform URLs")
    with pytest.raises(case.error or Exception) as info:
        validate_envelope(case.activity, case.registry)
    assert "https://sockethub.org/ns/context/platform/other/v1.jsonld" in info.value.message
