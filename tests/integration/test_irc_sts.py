"""IRCv3 ``sts`` against a real InspIRCd 3 (``ssl_gnutls`` and ``ircv3_sts``, a
self-signed certificate the test trusts): a plaintext connection told ``sts=port=P``
reconnects with TLS on P before registering; the policy is kept in Redis (fleet-wide) for
its duration, so another worker's connection goes straight to TLS (``duration=0``, which
InspIRCd never sends, is tests/connectors/irc/test_sts.py); a TLS failure against a host
with a policy is a clear error, never a downgrade."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from connectors.irc.client import IrcUpstream
from connectors.irc.sts import RedisStsStore
from connectors.persistent import ConnectionSpec
from envelopes import keys
from envelopes.errors import TlsError
from envelopes.settings import Settings

from ..servers.common import free_port
from ..servers.inspircd import InspIrcd, run_inspircd

pytestmark = pytest.mark.integration

TLS = Path(__file__).parent.parent / "connectors" / "fixtures" / "tls"
CERT = (TLS / "localhost.crt", TLS / "localhost.key")
HOST = "localhost"  # the name the certificate and the policy are for
LOCAL = Settings(allow_private_addresses=True, irc_flood_rate=0)


def run(coro: Any) -> Any:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="module")
def sts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InspIrcd]:
    with run_inspircd(tmp_path_factory.mktemp("sts"), tls=CERT, sts_duration=300) as server:
        yield server


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStsStore]:
    client = redis.Redis.from_url(redis_url)
    client.delete(keys.irc_sts(HOST))
    yield RedisStsStore(client)
    client.delete(keys.irc_sts(HOST))


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The self-signed certificate is trusted (ssl's default context reads this)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(TLS / "localhost.crt"))


def upstream(port: int, store: Any, nick: str) -> IrcUpstream:
    creds = {"nick": nick, "server": HOST, "port": port, "secure": False}
    spec = ConnectionSpec(nick, {"id": f"{nick}@{HOST}"}, creds)
    return IrcUpstream(spec, lambda _a: None, LOCAL, sts=store)


def connected(up: IrcUpstream) -> tuple[bool, int]:
    async def go() -> tuple[bool, int]:
        await up.connect()
        try:
            assert up.wire is not None and up.wire.transport is not None
            tls = up.wire.transport.get_extra_info("ssl_object") is not None
            return tls, up.port
        finally:
            await up.close("bye")

    result: tuple[bool, int] = run(go())
    return result


def test_plaintext_told_sts_reconnects_with_tls_and_the_policy_is_remembered(
    sts_server, store, trusted, redis_url
):
    tls, port = connected(upstream(sts_server.port, store, "upgraded"))
    assert (tls, port) == (True, sts_server.tls_port)
    ttl = store.redis.ttl(keys.irc_sts(HOST))
    assert 200 < ttl <= 300, ttl  # the duration the TLS connection announced
    # Another worker, with its own client of the same Redis, asks for a plaintext port
    # where nothing listens: the policy sends it straight to TLS.
    other = RedisStsStore(redis.Redis.from_url(redis_url))
    store.redis.expire(keys.irc_sts(HOST), 30)
    tls, port = connected(upstream(free_port(), other, "remembered"))
    assert (tls, port) == (True, sts_server.tls_port)
    # ... and that TLS connection refreshed the policy's duration.
    assert store.redis.ttl(keys.irc_sts(HOST)) > 200


def test_a_tls_failure_against_an_sts_host_is_clear_and_never_a_downgrade(sts_server, store):
    store.put(HOST, sts_server.tls_port, 300)
    # The certificate is not trusted here: the handshake fails, and the plaintext port
    # (which works) is not tried instead.
    with pytest.raises(TlsError) as err:
        connected(upstream(sts_server.port, store, "strict"))
    assert "STS" in err.value.message and str(sts_server.tls_port) in err.value.message
