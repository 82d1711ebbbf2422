"""The generator itself: the payload's shape and fingerprint, the ``schemas`` answer, the
refusal of rules it cannot translate, and the twins of the rules written as code."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
from datetime import datetime

import pytest
from marshmallow import ValidationError, fields, validates_schema

from envelopes.jsonschema import Untranslatable, fingerprint, registry_payload, schemas_reply
from envelopes.jsonschema.fields import object_schema
from envelopes.jsonschema.rules import _DATETIME, _SPACE_OR_CONTROL, _URL
from envelopes.platforms.feeds import _check_url
from envelopes.registry import default_registry
from envelopes.schema import StrictSchema

REG = default_registry()


def test_payload_in_sockethubs_shape_with_its_fingerprint():
    payload = registry_payload(REG)
    body = {k: payload[k] for k in ("version", "contexts", "platforms")}
    assert list(payload) == ["fingerprint", "version", "contexts", "platforms"]
    assert re.fullmatch("[0-9a-f]{16}", payload["fingerprint"])
    assert payload["fingerprint"] == fingerprint(body)
    assert [p["id"] for p in payload["platforms"]] == REG.names()
    irc = next(p for p in payload["platforms"] if p["id"] == "irc")
    assert irc["types"][0] == "credentials" and "credentials" not in irc["types"][1:]
    assert irc["contextUrl"] == "https://sockethub.org/ns/context/platform/irc/v1.jsonld"
    assert irc["schemas"]["messages"]["properties"]["type"]["enum"] == list(irc["types"][1:])
    feeds = next(p for p in payload["platforms"] if p["id"] == "feeds")
    assert feeds["types"] == ["fetch", "follow", "unfollow", "opml-import", "opml-export"]
    assert feeds["schemas"]["credentials"]["not"] == {}


def test_fingerprint_is_over_compact_json_as_javascript_writes_it():
    body = {"version": "1", "contexts": {"as": "é"}, "platforms": []}
    compact = '{"version":"1","contexts":{"as":"é"},"platforms":[]}'
    import hashlib

    assert fingerprint(body) == hashlib.sha256(compact.encode()).hexdigest()[:16]


def test_schemas_reply_says_unchanged_only_for_the_current_fingerprint():
    payload = registry_payload(REG)
    fp = payload["fingerprint"]
    assert schemas_reply(fp, REG) == {"fingerprint": fp, "unchanged": True}
    assert schemas_reply(None, REG) is payload
    assert schemas_reply("0" * 16, REG) is payload
    assert schemas_reply({"fingerprint": fp}, REG) is payload


def test_the_command_prints_the_payload():
    out = subprocess.run(
        [sys.executable, "-m", "envelopes.jsonschema", "--compact"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert json.loads(out)["fingerprint"] == registry_payload(REG)["fingerprint"]


def _odd(value: str) -> None:
    if len(value) % 2 == 0:
        raise ValidationError("odd")


class WithFunction(StrictSchema):
    x = fields.String(validate=_odd)


class WithHook(StrictSchema):
    x = fields.String()

    @validates_schema
    def _never(self, data, **_):
        raise ValidationError("no")


class WithEmail(StrictSchema):
    x = fields.Email()


class WithLooseInt(StrictSchema):
    x = fields.Integer()


class WithWordBoundary(StrictSchema):
    x = fields.String(validate=fields.validate.Regexp(r"\bx"))


@pytest.mark.parametrize(
    ("schema", "words"),
    [
        (WithFunction, "validator <function _odd"),
        (WithHook, "validates_schema hook _never"),
        (WithEmail, "validator <Email"),
        (WithLooseInt, "non-strict Integer"),
        (WithWordBoundary, "has no JavaScript twin"),
    ],
)
def test_a_rule_without_a_twin_is_refused_by_name(schema, words):
    with pytest.raises(Untranslatable, match=re.escape(words)):
        object_schema(schema)


def _js_free(pattern: str) -> re.Pattern[str]:
    """A twin pattern that means the same in Python: drop ^...$ and use fullmatch."""
    assert pattern.startswith("^") and pattern.endswith("$")
    return re.compile(pattern[1:-1])


def test_the_datetime_twin_takes_every_form_fromisoformat_takes():
    twin = _js_free(_DATETIME)
    dates = ["2025-01-31", "20250131", "2025-W05", "2025W055", "2025-W05-5", "2024-02-29"]
    times = ["09", "0900", "09:00", "09:00:00", "090000", "09:00:00.5", "09:00:00,123456"]
    zones = ["Z", "z", "+01", "+0100", "+01:00", "-01:00:30", "+01:00:30.123456", " Z", ""]
    taken = 0
    for d, sep, t, z in itertools.product(dates, "Tt x\n", times, zones):
        value = d + sep + t + z
        try:
            aware = datetime.fromisoformat(value).tzinfo is not None
        except ValueError:
            continue
        if aware:
            taken += 1
            assert twin.fullmatch(value), value
    assert taken > 500
    assert not twin.fullmatch("2026-01-01T00:00:00") and not twin.fullmatch("not a date")


def test_the_url_twin_agrees_with_check_url_off_its_documented_gaps():
    shape, clean = _js_free(_URL), _js_free(f"^{_SPACE_OR_CONTROL}*$")
    parts = [
        ["http", "HTTPS", "ftp", "https:", "h"],
        ["://", ":/", ":"],
        ["", "u@", "u:p@", "a@b@", "@"],
        ["example.org", "", "ex]a", "x:y"],
        ["", ":", ":80", ":065535", ":65536", ":8a", ":-1"],
        ["", "/", "/a b", "/a\tb", "?q", "#f", "/\x7f", "/\u3000"],
    ]
    for bits in itertools.product(*parts):
        value = "".join(bits)
        try:
            _check_url(value)
            ours = True
        except ValidationError:
            ours = False
        assert ours == bool(shape.fullmatch(value) and clean.fullmatch(value)), value


def test_docs_list_every_gap():
    from pathlib import Path

    from envelopes.jsonschema import GAPS

    docs = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
    text = " ".join(docs.read_text().split())
    for gap in GAPS:
        assert f"- {gap}" in text, gap
