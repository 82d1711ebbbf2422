"""Python regular expressions rewritten for ECMA-262 (JSON Schema's ``pattern`` dialect).

marshmallow's ``Regexp`` runs ``re.match`` (anchored at the start) with Python's meaning of
every escape; AJV runs ``new RegExp(pattern, "u")``, unanchored. The two dialects differ in
ways that change verdicts (Python's ``$`` also matches before a final newline, its ``\\s``
and ``\\d`` are Unicode sets JavaScript's are not), so nothing is copied as text: the
pattern is parsed by Python's own parser and written out again construct by construct, each
character class as the explicit code points Python matches. A construct with no exact
JavaScript twin (backreferences, word boundaries, case-insensitive matching, ...) raises
``Untranslatable`` instead of producing a schema that would disagree.
"""

from __future__ import annotations

import re
import sys
from functools import cache
from typing import Any

try:  # Python 3.11+
    from re import _constants as sre_constants  # type: ignore[attr-defined]
    from re import _parser as sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

__all__ = ["Untranslatable", "ecma_pattern", "char_class", "python_class"]

C = sre_constants
_ALLOWED_FLAGS = re.UNICODE | re.VERBOSE | re.DOTALL
Ranges = list[tuple[int, int]]


class Untranslatable(ValueError):
    """A validation rule that JSON Schema (as AJV runs it) cannot state exactly."""


def _merge(ranges: Ranges) -> Ranges:
    out: Ranges = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _complement(ranges: Ranges) -> Ranges:
    out: Ranges = []
    start = 0
    for lo, hi in _merge(ranges):
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= sys.maxunicode:
        out.append((start, sys.maxunicode))
    return out


@cache
def python_class(escape: str) -> tuple[tuple[int, int], ...]:
    """The code points Python's ``\\s``/``\\d``/``\\w`` match, found by asking Python."""
    probe = re.compile(escape)
    ranges: Ranges = [(c, c) for c in range(sys.maxunicode + 1) if probe.match(chr(c))]
    return tuple(_merge(ranges))


_CATEGORIES = {
    C.CATEGORY_SPACE: (r"\s", False),
    C.CATEGORY_NOT_SPACE: (r"\s", True),
    C.CATEGORY_DIGIT: (r"\d", False),
    C.CATEGORY_NOT_DIGIT: (r"\d", True),
    C.CATEGORY_WORD: (r"\w", False),
    C.CATEGORY_NOT_WORD: (r"\w", True),
}


def _category(cat: Any) -> Ranges:
    if cat not in _CATEGORIES:
        raise Untranslatable(f"regular expression category {cat} has no JavaScript twin")
    escape, negate = _CATEGORIES[cat]
    ranges = list(python_class(escape))
    return _complement(ranges) if negate else ranges


def _char(code: int) -> str:
    """One code point, escaped so it means itself inside or outside a class."""
    ch = chr(code)
    if ch.isascii() and (ch.isalnum() or ch in " !\"#%&',:;<=>@_`~"):
        return ch
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\u{{{code:x}}}"


def char_class(ranges: Ranges, negate: bool = False) -> str:
    """``[...]`` (or ``[^...]``) matching exactly ``ranges``."""
    parts = []
    for lo, hi in _merge(ranges):
        parts.append(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}")
    return f"[{'^' if negate else ''}{''.join(parts)}]"


def _in(items: list[tuple[Any, Any]]) -> str:
    negate = False
    ranges: Ranges = []
    for op, arg in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            ranges.append((arg, arg))
        elif op is C.RANGE:
            ranges.append(arg)
        elif op is C.CATEGORY:
            ranges.extend(_category(arg))
        else:
            raise Untranslatable(f"character class item {op} has no JavaScript twin")
    return char_class(ranges, negate)


def _seq(tree: Any, dotall: bool) -> str:
    return "".join(_node(op, arg, dotall) for op, arg in tree)


def _node(op: Any, arg: Any, dotall: bool) -> str:
    if op is C.LITERAL:
        return _char(arg)
    if op is C.NOT_LITERAL:
        return char_class([(arg, arg)], negate=True)
    if op is C.ANY:  # Python's "." is "anything but \n"; JavaScript's also skips \r etc.
        return "[\\s\\S]" if dotall else "[^\\n]"
    if op is C.IN:
        return _in(arg)
    if op is C.CATEGORY:
        return char_class(_category(arg))
    if op in (C.MAX_REPEAT, C.MIN_REPEAT):
        lo, hi, sub = arg
        top = "" if hi is C.MAXREPEAT else str(hi)
        lazy = "?" if op is C.MIN_REPEAT else ""
        return f"(?:{_seq(sub, dotall)}){{{lo},{top}}}{lazy}"
    if op is C.SUBPATTERN:
        _group, add, remove, sub = arg
        if add or remove:
            raise Untranslatable("inline regular expression flags have no JavaScript twin")
        return f"(?:{_seq(sub, dotall)})"
    if op is C.BRANCH:
        return "(?:" + "|".join(_seq(alt, dotall) for alt in arg[1]) + ")"
    if op is C.AT:
        if arg in (C.AT_BEGINNING, C.AT_BEGINNING_STRING):
            return "^"
        if arg is C.AT_END:  # Python's "$": the end, or just before a final newline
            return "(?=\\n?$)"
        if arg is C.AT_END_STRING:  # Python's "\Z" is JavaScript's "$"
            return "$"
    if op in (C.ASSERT, C.ASSERT_NOT):
        direction, sub = arg
        look = "<" if direction < 0 else ""
        sign = "=" if op is C.ASSERT else "!"
        return f"(?{look}{sign}{_seq(sub, dotall)})"
    raise Untranslatable(f"regular expression construct {op} {arg} has no JavaScript twin")


def ecma_pattern(regex: re.Pattern[Any]) -> str:
    """``regex`` as ``re.match`` runs it, written as an ECMA-262 ``pattern`` (``u`` flag)."""
    if not isinstance(regex.pattern, str):
        raise Untranslatable("a bytes pattern cannot match JSON strings")
    if regex.flags & ~_ALLOWED_FLAGS:
        raise Untranslatable(f"regular expression flags {regex.flags} have no JavaScript twin")
    tree = sre_parse.parse(regex.pattern, regex.flags)
    return "^(?:" + _seq(tree, bool(regex.flags & re.DOTALL)) + ")"
