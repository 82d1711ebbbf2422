"""The generated JSON Schemas and the gateway give the same verdict on every case.

Every valid and invalid activity of our validation tests (``validation_cases.py``,
``platform_cases.py``, and the envelope refusals among the integration test's bad inputs)
goes through ``validate_envelope`` and through AJV in Node, which
compiles the registry payload's schemas as Sockethub's SDK does (``tests/js/``; install
with ``npm ci --prefix tests/js``). The rules JSON Schema cannot state exactly
(``envelopes.jsonschema.GAPS``) have their own cases below, where AJV must be the looser.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from envelopes.errors import ClientError
from envelopes.jsonschema import registry_payload
from envelopes.registry import Registry, default_registry
from envelopes.validate import validate_envelope

from ..servers.common import missing
from .platform_cases import PLATFORM_CASES, f, i
from .validation_cases import BASE, Case, env

JS = Path(__file__).resolve().parent.parent / "js"
SCRIPT = JS / "ajv-verdicts.js"
INSTALL = "run `npm ci --prefix tests/js`"

ENVELOPE_CODES = ("invalid-envelope", "unknown-platform", "unknown-verb")


def _pipeline_cases() -> list[Case]:
    """The envelope refusals of the integration test's bad inputs, on its dummy-only stack."""
    from ..integration.test_dummy_pipeline import BAD_INPUTS

    dummy_only = default_registry().only(["dummy"])
    return [
        Case(f"pipeline: {name}", bad.get("_activity", bad), ClientError, registry=dummy_only)
        for name, bad, code, _words, _path in BAD_INPUTS
        if isinstance(bad, dict) and code in ENVELOPE_CODES
    ]


CASES = [*BASE, *PLATFORM_CASES, *_pipeline_cases()]

# Where JSON Schema is documented to be looser: the gateway refuses, AJV accepts.
LOOSER = [
    Case(
        "port 5222.0 (JSON Schema: an integer)",
        i(
            "credentials",
            object={"type": "credentials", "nick": "me", "server": "irc.example", "port": 5222.0},
        ),
    ),
    Case(
        "published on 31 February",
        env(object={"type": "message", "content": "x"}, published="2026-02-31T00:00:00Z"),
    ),
    Case("since at 25 o'clock", f(object={"since": "2025-01-31T25:00:00Z"})),
    Case("bracketed host not an address", f(url="http://[not-ip]/feed")),
    Case("host with a fullwidth solidus (NFKC: '/')", f(url="http://ex\uff0fample.org/feed")),
]


def gateway_verdict(case: Case) -> bool:
    try:
        validate_envelope(case.activity, case.registry)
    except ClientError:
        return False
    return True


def ajv_verdicts(cases: list[Case]) -> tuple[list[bool], list[Any]]:
    node = shutil.which("node")
    if node is None:
        missing("node", "install Node.js 18 or later")
    if not (JS / "node_modules" / "ajv").is_dir():
        missing("the npm package ajv", INSTALL)
    registries: list[Registry] = []
    for case in cases:
        if all(r is not case.registry for r in registries):
            registries.append(case.registry)
    runs = [
        {
            "payload": registry_payload(reg),
            "activities": [c.activity for c in cases if c.registry is reg],
        }
        for reg in registries
    ]
    done = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps({"runs": runs}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    verdicts: dict[int, tuple[bool, Any]] = {}
    for reg, got, errs in zip(registries, answer["verdicts"], answer["errors"], strict=True):
        mine = [n for n, c in enumerate(cases) if c.registry is reg]
        verdicts.update({n: (v, e) for n, v, e in zip(mine, got, errs, strict=True)})
    return [verdicts[n][0] for n in range(len(cases))], [verdicts[n][1] for n in range(len(cases))]


def test_every_case_gets_the_same_verdict_from_ajv_and_the_gateway():
    verdicts, errors = ajv_verdicts(CASES)
    disagree = [
        f"{c.name}: gateway {'accepts' if c.valid else 'refuses'}, AJV "
        f"{'accepts' if v else 'refuses'} ({e})"
        for c, v, e in zip(CASES, verdicts, errors, strict=True)
        if v != c.valid
    ]
    assert not disagree, "\n".join(disagree)
    assert all(gateway_verdict(c) is c.valid for c in CASES)
    # both verdicts occur for every platform, so a schema that accepts all would fail here
    for name in default_registry().names():
        seen = {c.valid for c in CASES if f"/platform/{name}/" in json.dumps(c.activity)}
        assert seen == {True, False}, name


def test_where_json_schema_cannot_say_it_ajv_is_the_looser():
    verdicts, _ = ajv_verdicts(LOOSER)
    for case, ajv in zip(LOOSER, verdicts, strict=True):
        assert not gateway_verdict(case), f"{case.name}: the gateway should refuse it"
        assert ajv, f"{case.name}: AJV refuses it: the gap is gone, update rules.GAPS and docs"
