"""The validators written as Python functions, and their JSON Schema twins.

marshmallow's own validators (``Length``, ``OneOf``, ``Regexp``, ``Range``) are read from
their arguments in ``fields.py``. A function validator or a ``@validates_schema`` hook is
code, so its twin is written here, next to the notes saying whether it is exact. The
generator refuses any validator or hook missing from these tables, so a new rule cannot
reach the gateway without its schema (``python -m envelopes.jsonschema`` fails naming it).

Where JSON Schema cannot say a rule exactly, the twin is looser, never stricter: a client
checking with it never refuses what the gateway accepts; the gateway refuses the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..platforms import caldav, chatlog, feeds, irc, xmpp
from .regex import char_class, python_class

__all__ = ["Twin", "VALIDATORS", "HOOKS", "DATETIME", "GAPS"]

Json = dict[str, Any]


@dataclass(frozen=True)
class Twin:
    schema: Json
    exact: bool = True
    gap: str = ""  # what JSON Schema cannot say, for the docs


def _pattern(p: str) -> Json:
    return {"pattern": p}


# Python's str.isspace() set, plus the C0 controls and DEL: what _check_url forbids.
_SPACE_OR_CONTROL = char_class([*python_class(r"\s"), (0x00, 0x1F), (0x7F, 0x7F)], negate=True)
# urlsplit's port: ASCII digits, 0-65535 (leading zeros allowed), or empty after a colon.
_PORT = (
    "(?::0*(?:[0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])?)?"
)
# urlsplit reads the host after the last "@"; a "[" there starts a bracketed address.
_HOST = "(?:[^/?#@\\[\\]:]+|[^/?#@\\[]*\\[[^/?#@\\]]+\\][^/?#@:]*)"
_URL = f"^[Hh][Tt][Tt][Pp][Ss]?://(?:[^/?#]*@)?{_HOST}{_PORT}(?:[/?#][\\s\\S]*)?$"

# datetime.fromisoformat (Python 3.11) with a time zone: a date (calendar, compact or
# ISO week form), one separator, a time, then Z or an offset (it also skips one character
# of any kind before the zone). The shape only.
_DATETIME = (
    "^[0-9]{4}-?(?:[0-9]{2}-?[0-9]{2}|W[0-9]{2}-?[0-9]?)[\\s\\S]"
    "[0-9]{2}(?:[:.,]?[0-9]+)*[\\s\\S]?(?:Z|[+-][0-9]{2}(?:[:.]?[0-9]+)*)$"
)
_DATETIME_GAP = (
    "date-times are checked for their shape (date, time, a time zone): the calendar "
    "(no 31 February) and every form Python's datetime.fromisoformat reads are checked "
    "by the gateway only"
)

DATETIME = Twin({"type": "string", "pattern": _DATETIME}, exact=False, gap=_DATETIME_GAP)

VALIDATORS: dict[Callable[..., Any], Twin] = {
    feeds._check_url: Twin(
        {"allOf": [_pattern(f"^{_SPACE_OR_CONTROL}*$"), _pattern(_URL)]},
        exact=False,
        gap="an http(s) URL's bracketed IPv6 host and a non-ASCII host's Unicode "
        "normalisation (NFKC) are checked by the gateway only",
    ),
    feeds._check_datetime: Twin({"allOf": [_pattern(_DATETIME)]}, exact=False, gap=_DATETIME_GAP),
}


def _when_type(value: str, then: Json) -> Json:
    return {
        "if": {"properties": {"type": {"const": value}}, "required": ["type"]},
        "then": then,
    }


def _none_of(*names: str) -> Json:
    return {"not": {"anyOf": [{"required": [n]} for n in names]}}


_CURSORS = ("before", "after", "around")
_LOG_QUERY = Twin(
    {
        "allOf": [
            {
                "if": {
                    "properties": {"type": {"not": {"enum": list(chatlog.PAGED_QUERIES)}}},
                    "required": ["type"],
                },
                "then": _none_of(*_CURSORS, "limit", "cursor"),
            },
            _when_type("rooms", _none_of(*_CURSORS)),
            _when_type(
                "history",
                {
                    "allOf": [
                        {
                            "not": {
                                "anyOf": [
                                    {"required": [a, b]}
                                    for i, a in enumerate(_CURSORS)
                                    for b in _CURSORS[i + 1 :]
                                ]
                            }
                        },
                        _none_of("cursor", "content"),
                    ]
                },
            ),
            _when_type(
                "search",
                {
                    "allOf": [_none_of(*_CURSORS)],
                    "required": ["content"],
                    "properties": {"content": {"minLength": 1}},
                },
            ),
        ]
    },
    exact=False,
    gap="a search whose content is only white space is refused by the gateway only",
)

HOOKS: dict[Callable[..., Any], Twin] = {
    chatlog.LogQueryFields._log_query: _LOG_QUERY,
    irc.SendObject._needs_content: Twin(
        {
            "properties": {
                "type": {"enum": ["message", "me", "notice"]},
                "content": {"minLength": 1},
            },
            "required": ["content"],
        }
    ),
    xmpp.SendObject._needs_content: Twin(
        {"properties": {"content": {"minLength": 1}}, "required": ["content"]}
    ),
    # CalDAV/CardDAV credentials: a token alone, or a username with a password.
    caldav.DavCredentials._one_way: Twin(
        {
            "oneOf": [
                {
                    "required": ["token"],
                    "not": {"anyOf": [{"required": ["username"]}, {"required": ["password"]}]},
                },
                {"required": ["username", "password"], "not": {"required": ["token"]}},
            ]
        }
    ),
    caldav.Recurrence._count_or_until: Twin({"not": {"required": ["count", "until"]}}),
    irc.UpdateObject._fits_type: Twin(
        {
            "allOf": [
                _when_type("presence", {"required": ["presence"]}),
                {
                    "if": {"not": _when_type("presence", {})["if"]},
                    "then": {"not": {"required": ["presence"]}},
                },
                _when_type("profile", {"required": ["realName"]}),
                {
                    "if": {"not": _when_type("profile", {})["if"]},
                    "then": {"not": {"required": ["realName"]}},
                },
            ]
        }
    ),
    irc.QueryObject._fits_type: Twin(
        {
            "allOf": [
                {
                    "if": {"not": _when_type("presence", {})["if"]},
                    "then": {"not": {"required": ["watch"]}},
                },
                {
                    "if": {"not": _when_type("rooms", {})["if"]},
                    "then": {"not": {"required": ["search"]}},
                },
            ]
        }
    ),
    xmpp.UpdateObject._shape: Twin(
        {
            "allOf": [
                _when_type("presence", {"required": ["presence"], "not": {"required": ["image"]}}),
                _when_type(
                    "topic",
                    {"not": {"anyOf": [{"required": ["presence"]}, {"required": ["image"]}]}},
                ),
                _when_type("profile", {"required": ["image"]}),
            ]
        }
    ),
}

INTEGER_GAP = (
    "a number with a zero fraction (5222.0) is an integer to JSON Schema; the gateway "
    "refuses it where it wants an integer"
)

GAPS: list[str] = sorted(
    {INTEGER_GAP, _DATETIME_GAP} | {t.gap for t in (*VALIDATORS.values(), *HOOKS.values()) if t.gap}
)
