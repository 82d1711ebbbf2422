"""A persistent upstream dials every address its server's name resolves to, in order.

Through ``IrcUpstream`` against a real ngircd, with a name (resolver seam, no DNS) that
resolves to a dead address first and the live one second; and ``dial_each`` itself."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from connectors.irc.client import IrcUpstream
from connectors.net.dial import dial_each
from connectors.net.guard import StaticResolver
from connectors.persistent import ConnectionSpec
from envelopes.errors import TlsError, UpstreamUnavailable
from envelopes.settings import Settings

from ..servers.ircd import run_ngircd

NAME = "irc.two-addresses.test"


def run(coro):
    with ThreadPoolExecutor(1) as pool:  # a loop of its own (see tests/connectors/irc)
        return pool.submit(asyncio.run, coro).result()


def test_irc_connects_through_the_second_address_when_the_first_is_dead(tmp_path):
    with run_ngircd(tmp_path) as ircd:  # listens on 127.0.0.1 only: 127.0.0.2 refuses
        creds = {"nick": "dialer", "server": NAME, "port": ircd.port, "secure": False}
        up = IrcUpstream(
            ConnectionSpec("k", {"id": f"dialer@{NAME}"}, creds),
            lambda _a: None,
            Settings(allow_private_addresses=True),
        )
        up.resolver = StaticResolver({NAME: ["127.0.0.2", "127.0.0.1"]})

        async def go() -> None:
            await up.connect()
            try:
                assert up.wire is not None and not up.closed.is_set()
            finally:
                await up.close("bye")

        run(go())


def test_dial_each_tries_in_order_and_reports_the_last_failure():
    resolver = StaticResolver({NAME: ["127.0.0.2", "127.0.0.3", "127.0.0.4"]})
    tried: list[str] = []

    async def attempt(address) -> str:
        ip = address[1][0]
        tried.append(ip)
        if ip != "127.0.0.3":
            raise UpstreamUnavailable(f"{ip} refused")
        return ip

    got = run(dial_each(NAME, 6667, True, attempt, resolver=resolver))
    assert got == "127.0.0.3" and tried == ["127.0.0.2", "127.0.0.3"]

    async def none(address) -> str:
        raise ConnectionRefusedError(111, "Connection refused")

    with pytest.raises(UpstreamUnavailable, match="could not connect to .*:6667"):
        run(dial_each(NAME, 6667, True, none, resolver=resolver))


def test_dial_each_stops_at_an_error_that_is_not_about_reaching_the_address():
    resolver = StaticResolver({NAME: ["127.0.0.2", "127.0.0.3"]})
    tried: list[str] = []

    async def attempt(address) -> str:
        tried.append(address[1][0])
        raise TlsError("certificate verify failed")

    with pytest.raises(TlsError):
        run(dial_each(NAME, 6667, True, attempt, resolver=resolver))
    assert tried == ["127.0.0.2"]
