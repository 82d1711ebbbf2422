"""Fixtures: real Redis, real Celery workers and real gateway processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gateway.cli import start_private_redis

from .connectors.fixtureserver import FixtureServer
from .stack import Stack


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
