"""WEBIRC seen by InspIRCd 3: its ``cgiirc`` module takes the browser's address from us.

Real InspIRCd with ``<cgihost type="webirc" password=... mask="127.0.0.1">`` (it trusts a
WEBIRC line only from that gateway address); the browser's address reaches the gateway as
a trusted proxy's ``X-Forwarded-For``, as in ``test_webirc.py`` for ngircd. An independent
raw client asks the server who our user is (WHOIS): the host and the address InspIRCd
gives are the browser's, not the gateway's 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..servers.inspircd import InspIrcd, run_inspircd
from ..servers.ircclient import RawIrcClient
from ..stack import Stack
from .test_webirc import _join_as

pytestmark = pytest.mark.integration

PASSWORD = "webirc-inspircd-pass"
BROWSER = "198.51.100.23"  # TEST-NET-2: never reached, only named


@pytest.fixture(scope="module")
def ircd(tmp_path_factory) -> Iterator[InspIrcd]:
    gateway = f'<cgihost type="webirc" password="{PASSWORD}" mask="127.0.0.1">\n'
    with run_inspircd(
        tmp_path_factory.mktemp("webirc-insp"), modules=("cgiirc",), extra=gateway
    ) as server:
        yield server


@pytest.fixture(scope="module")
def stack(ircd) -> Iterator[Stack]:
    table = f"{ircd.host}:{ircd.port}={PASSWORD}"
    s = Stack(platforms=("irc",), env_overrides={"SOCKETHUB_IRC_WEBIRC": table}).start()
    yield s
    s.stop()


def test_inspircd_sees_the_browsers_address(stack: Stack, ircd: InspIrcd) -> None:
    with RawIrcClient(ircd.host, ircd.port, "inspwatch") as w:
        w.send("JOIN #webirc")
        w.wait_for(lambda ln: " 366 " in ln)
        c = _join_as(stack, ircd, "viainsp", "#webirc", BROWSER)
        join = w.wait_for(lambda ln: ln.startswith(":viainsp!") and " JOIN " in ln)
        assert join.split(" ", 1)[0].endswith(f"@{BROWSER}"), join
        w.send("WHOIS viainsp")
        user = w.wait_for(lambda ln: " 311 inspwatch viainsp " in ln)  # RPL_WHOISUSER
        assert user.split()[5] == BROWSER, user
        w.wait_for(lambda ln: " 318 inspwatch viainsp " in ln)  # end of WHOIS
        assert not any("127.0.0.1" in ln for ln in w.lines if " viainsp " in ln), w.lines
        c.close()
