"""The InspIRCd fixture works: IRCv3 with CAP, and a server that ignores CAP without it."""

from __future__ import annotations

import socket
import time

import pytest

from tests.servers.inspircd import InspIrcd
from tests.servers.ircclient import RawIrcClient

pytestmark = pytest.mark.integration

WANTED = {"cap-notify", "server-time", "message-tags", "echo-message", "batch"}


@pytest.fixture(scope="module")
def server(inspircd: InspIrcd) -> InspIrcd:
    return inspircd  # tests/conftest.py


def _exchange(server: InspIrcd, lines: list[str], wait: float = 1.0) -> str:
    with socket.create_connection((server.host, server.port), timeout=5) as s:
        s.sendall("".join(f"{ln}\r\n" for ln in lines).encode())
        s.settimeout(0.3)
        got, deadline = b"", time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                data = s.recv(65536)
            except TimeoutError:
                continue
            if not data:
                break
            got += data
        return got.decode(errors="replace")


def test_the_server_offers_the_ircv3_capabilities(server: InspIrcd):
    said = _exchange(server, ["CAP LS 302"])
    ls = next(ln for ln in said.splitlines() if " CAP * LS " in ln)
    offered = {c.split("=")[0] for c in ls.rsplit(":", 1)[1].split()}
    assert WANTED | {"labeled-response", "multi-prefix", "userhost-in-names"} <= offered


def test_two_clients_talk_with_server_time_and_msgid(server: InspIrcd):
    with (
        RawIrcClient(server.host, server.port, "alice") as alice,
        RawIrcClient(server.host, server.port, "bob") as bob,
    ):
        alice.send("CAP REQ :server-time message-tags")
        alice.wait_for("ACK")
        alice.send("JOIN #talk")
        alice.wait_for(" 366 alice #talk ")
        bob.send("JOIN #talk")
        bob.wait_for(" 366 bob #talk ")
        bob.send("PRIVMSG #talk :hello alice")
        line = alice.wait_for("PRIVMSG #talk")
        assert line.startswith("@") and "time=" in line and "msgid=" in line, line


def test_without_cap_the_server_says_nothing_to_cap_ls_and_registers_without_it(inspircd_nocap):
    nocap = inspircd_nocap
    assert _exchange(nocap, ["CAP LS 302"], wait=0.8) == ""
    said = _exchange(nocap, ["CAP LS 302", "NICK lone", "USER lone 0 * :x"])
    assert " 001 lone " in said and " CAP " not in said
