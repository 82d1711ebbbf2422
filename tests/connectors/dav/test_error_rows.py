"""Every condition the DAV connectors send is in docs/protocol.md's error table, under the
code it is sent with (as tests/test_error_table.py does for IRC and XMPP)."""

from __future__ import annotations

import http.client
import os
import re

import pytest

from connectors.dav.client import _with_condition, status_error
from connectors.net.http import Response
from envelopes import errors
from tests.test_error_table import ROOT, ROWS, _in_conditions_cell

PART = "CalDAV/CardDAV"
VERBS = ("query", "create", "update", "delete")


def _answer(status: int) -> Response:
    return Response("https://dav.example/", status, http.client.HTTPMessage(), b"")


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 410, 412, 429, 500, 503])
@pytest.mark.parametrize("verb", VERBS)
def test_every_status_maps_to_a_documented_pair(status: int, verb: str) -> None:
    err = status_error("caldav", verb, _answer(status), "x")
    assert err.condition and _in_conditions_cell(err.code, PART, err.condition), (
        err.code,
        err.condition,
    )


@pytest.mark.parametrize(
    "exc",
    [
        errors.BlockedAddress("only http and https URLs may be fetched"),
        errors.BlockedAddress("10.0.0.1 is a private address"),
        errors.UpstreamUnavailable("refused"),
        errors.UpstreamTimeout("slow"),
        errors.TlsError("bad certificate"),
        errors.TooLarge("big"),
        errors.UpstreamError("malformed"),
        errors.Refused("more than 5 redirects"),
        errors.Refused("unsupported Content-Encoding br"),
    ],
)
def test_every_client_error_gets_a_documented_condition(exc: errors.SockethubError) -> None:
    got = _with_condition(exc, "carddav")
    assert got.condition and _in_conditions_cell(got.code, PART, got.condition), (
        got.code,
        got.condition,
    )


def test_every_condition_named_in_the_code_is_in_the_table() -> None:
    named: set[str] = set()
    for package in ("dav", "caldav", "carddav"):
        folder = os.path.join(ROOT, "connectors", package)
        for name in os.listdir(folder):
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as f:
                    text = f.read()
                named |= set(re.findall(r'condition_detail\(\s*[^,()]+,\s*"([a-z-]+)"', text))
    named |= {f"invalid-{v}" for v in ("create", "update", "query")} | {"not-caldav", "not-carddav"}
    assert len(named) > 10
    cells = " ".join(cells[3] for cells in ROWS.values() if len(cells) > 3)
    missing = sorted(c for c in named if f"`{c}`" not in cells)
    assert not missing, f"conditions missing from docs/protocol.md: {missing}"
