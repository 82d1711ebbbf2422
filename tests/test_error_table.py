"""docs/protocol.md's error table is the code's: every code, its retryable flag, and every
platform condition under the code it is sent with. The table cannot drift."""

from __future__ import annotations

import logging
import os
import re

import pytest

import envelopes.errors as errors
from connectors.irc.numerics import CONDITIONS as IRC_CONDITIONS
from connectors.irc.numerics import IrcError
from connectors.xmpp.errors import (
    SASL_CONDITIONS,
    STANZA_CONDITIONS,
    STREAM_CONDITIONS,
    XmppError,
    sasl_failure,
    stream_failure,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE_DIRS = ("connectors", "envelopes", "gateway", "tasks")


def _rows() -> dict[str, list[str]]:
    """code → the cells of its row in the table under "## Error codes"."""
    with open(os.path.join(ROOT, "docs", "protocol.md")) as f:
        text = f.read()
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        for code in re.findall(r"`([a-z0-9-]+)`", cells[0]):
            rows[code] = cells
    return rows


ROWS = _rows()


def _in_conditions_cell(code: str, platform: str, condition: str) -> bool:
    """``condition`` is named in ``code``'s row, in the part about ``platform``."""
    cell = ROWS[code][3]
    parts = re.split(r";\s*", cell)
    return any(p.lower().startswith(platform.lower()) and f"`{condition}`" in p for p in parts)


def test_every_code_of_the_tree_has_a_row_with_its_retryable_flag():
    for code, cls in errors.all_codes().items():
        assert code in ROWS, f"{code} is missing from docs/protocol.md's error table"
        said = ROWS[code][1]
        assert said == ("yes" if cls.retryable else "no"), f"{code}: table says {said}"
    assert set(ROWS) == set(errors.all_codes()), "the table lists a code the tree does not have"


def test_every_code_given_by_hand_is_a_code_of_the_tree():
    """A ``code="..."`` override anywhere in the code base names a code of the tree, so
    the check above covers it too."""
    found = set()
    for top in CODE_DIRS:
        for dirpath, _dirs, files in os.walk(os.path.join(ROOT, top)):
            for name in files:
                if name.endswith(".py"):
                    with open(os.path.join(dirpath, name)) as f:
                        found |= set(re.findall(r"\bcode=\"([a-z0-9-]+)\"", f.read()))
    unknown = found - set(errors.all_codes())
    assert not unknown, f"codes outside the tree: {sorted(unknown)}"


@pytest.mark.parametrize("condition", sorted(IRC_CONDITIONS))
def test_every_irc_condition_is_under_its_code(condition):
    exc = IrcError(condition, "000", "m").exception()
    assert exc.condition == condition and exc.code in errors.all_codes()
    assert _in_conditions_cell(exc.code, "IRC", condition), (exc.code, condition)


@pytest.mark.parametrize("condition", sorted(STANZA_CONDITIONS))
def test_every_xmpp_stanza_condition_is_under_its_code(condition):
    exc = XmppError(condition, "message", "cancel").exception()
    assert exc.condition == condition
    assert _in_conditions_cell(exc.code, "XMPP stanza", condition), (exc.code, condition)
    # type "wait" is upstream-error (but for the not-found ones), as the table says in words
    waiting = XmppError(condition, "iq", "wait").exception().code
    assert waiting == ("not-found" if exc.code == "not-found" else "upstream-error")
    assert "type `wait`" in ROWS["upstream-error"][3]


@pytest.mark.parametrize("condition", sorted(STREAM_CONDITIONS))
def test_every_xmpp_stream_condition_is_under_its_code(condition):
    exc = stream_failure(condition, "m")
    assert _in_conditions_cell(exc.code, "XMPP stream", condition), (exc.code, condition)


@pytest.mark.parametrize("condition", sorted(SASL_CONDITIONS))
def test_every_xmpp_sasl_condition_is_under_its_code(condition):
    exc = sasl_failure(condition, "m")
    assert _in_conditions_cell(exc.code, "XMPP SASL", condition), (exc.code, condition)


def test_the_login_not_authorized_and_the_dummy_condition():
    login = XmppError("not-authorized", "iq", "auth").exception(login=True)
    assert (
        login.code == "auth-failed" and "`not-authorized` while logging in" in ROWS[login.code][3]
    )
    assert _in_conditions_cell("refused", "dummy", "failed")


def test_every_error_dict_matches_error_json():
    """Whatever a failed reply can carry, of any class or platform, fits docs/schemas."""
    import json

    from jsonschema import Draft202012Validator

    with open(os.path.join(ROOT, "docs", "schemas", "error.json")) as f:
        validator = Draft202012Validator(json.load(f))
    made: list[errors.SockethubError] = [cls("m") for cls in errors.all_codes().values()]
    made += [IrcError(c, "433", "m", "bob").exception() for c in IRC_CONDITIONS]
    made += [
        XmppError(c, "message", t).exception()
        for c in STANZA_CONDITIONS
        for t in ("cancel", "wait")
    ]
    made += [stream_failure(c, "m") for c in STREAM_CONDITIONS]
    made += [sasl_failure(c, "m") for c in SASL_CONDITIONS]
    made.append(errors.internal_error(logging.getLogger("test"), "x", ValueError("v")))
    for err in made:
        data = err.to_dict()
        problems = list(validator.iter_errors(data))
        assert not problems, (data, problems[0].message)
        assert isinstance(data["retryable"], bool)
