"""The CalDAV and CardDAV wire contract, as the gateway checks it. The cases live in
tests/envelopes/dav_cases.py, shared with the AJV test (the generated JSON Schemas)."""

from __future__ import annotations

import pytest

from envelopes.registry import default_registry
from envelopes.validate import validate_envelope

from ...envelopes.dav_cases import DAV
from ...envelopes.validation_cases import Case, copied

REGISTRY = default_registry().only(["caldav", "carddav"])


@pytest.mark.parametrize("case", copied(DAV), ids=lambda c: c.name)
def test_case(case: Case) -> None:
    if case.valid:
        validate_envelope(case.activity, REGISTRY)
        return
    assert case.error is not None
    with pytest.raises(case.error) as info:
        validate_envelope(case.activity, REGISTRY)
    assert info.value.path == case.path, info.value.to_dict()
