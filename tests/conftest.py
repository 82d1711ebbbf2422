"""Fixtures: real Redis, real Celery workers and real gateway processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.cli import start_private_redis

from .connectors.fixtureserver import FixtureServer
from .servers.inspircd import InspIrcd, run_inspircd
from .stack import Stack, reap_stopped


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Stacks end in the background (``Stack.stop``): none outlives the run.
    reap_stopped()


@pytest.fixture(scope="session")
def redis_url():
    proc, url, _ = start_private_redis()
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def redis_client(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def stack():
    """One shared stack for tests that do not break it: dummy platform, short timeout."""
    s = Stack(env_overrides={"SOCKETHUB_REQUEST_TIMEOUT": "4"}).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def web() -> Iterator[FixtureServer]:
    """The local web server of the feeds and metadata tests (``connectors/fixtureserver.py``)."""
    srv = FixtureServer()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def tls_web() -> Iterator[FixtureServer]:
    """The same over HTTPS, with a self-signed certificate."""
    srv = FixtureServer(tls=True)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def inspircd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InspIrcd]:
    """A real InspIRCd 3 with CAP and its IRCv3 modules (``servers/inspircd.py``)."""
    with run_inspircd(tmp_path_factory.mktemp("inspircd")) as server:
        yield server


@pytest.fixture(scope="module")
def inspircd_nocap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InspIrcd]:
    """The same without its CAP module: it ignores ``CAP LS`` without a word."""
    with run_inspircd(tmp_path_factory.mktemp("inspircd"), cap=False) as server:
        yield server
