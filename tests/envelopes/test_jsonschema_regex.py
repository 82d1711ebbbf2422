"""Python patterns and their ECMA-262 rewrites match the same strings, checked in Node."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from envelopes.jsonschema import Untranslatable
from envelopes.jsonschema.regex import ecma_pattern

from ..servers.common import missing
from .test_jsonschema_ajv import JS

PATTERNS = [
    r"^[^\r\n\x00]*$",
    r"^[^\x00-\x1f\x7f]*$",
    r"^[^\s\"&'/:<>@\x00-\x1f]{1,1023}@[^\s/@\x00-\x1f]{1,1023}$",
    r"a.c",
    r"\d+\Z",
    r"(?:ab|cd)+?e",
    r"x(?=y)",
    r"x(?!y)",
    r"[^\S\n]+$",
    r"[\w-]+",
    r"[-\]\\^]",
    r"(?s)a.c",
]
STRINGS = [
    "",
    "abc",
    "a\nc",
    "a\rc",
    "abc\n",
    "abc\n\n",
    "nick",
    "ni\x00ck",
    "alice@example.org",
    "alice@example.org\n",
    "a b@c",
    "a\x85b@c",
    "a\ufeffb@c",
    "a\u3000b@c",
    "123",
    "١٢٣",  # Arabic-Indic digits: Python's \d, not JavaScript's
    "abcde",
    "cdabe",
    "xy",
    "xz",
    " \t",
    "\u00a0",
    "é_1-",
    "-",
    "]",
    "\\",
    "^",
    "\U0001f600",
]


def test_each_rewrite_matches_what_re_match_matches():
    node = shutil.which("node")
    if node is None:
        missing("node", "install Node.js 18 or later")
    compiled = [re.compile(p) for p in PATTERNS]
    job = [{"pattern": ecma_pattern(c), "strings": STRINGS} for c in compiled]
    done = subprocess.run(
        [node, str(JS / "regex-verdicts.js")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    wrong = [
        f"{c.pattern!r} on {s!r}: Python {bool(c.match(s))}, JavaScript {js}"
        for c, row in zip(compiled, json.loads(done.stdout), strict=True)
        for s, js in zip(STRINGS, row, strict=True)
        if bool(c.match(s)) != js
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("pattern", [r"\bx", r"(a)\1", r"(?i)x", r"(?m)^x$", r"(?i:x)"])
def test_no_javascript_twin_is_refused(pattern):
    with pytest.raises(Untranslatable):
        ecma_pattern(re.compile(pattern))
