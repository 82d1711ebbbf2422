"""Fixtures: real Redis, real Celery workers and real gateway processes."""

from __future__ import annotations

import os

import pytest

from gateway.cli import start_private_redis

from .stack import Stack


def need(condition: bool, what: str, install: str) -> None:
    """Skip locally, with what to install; fail in CI, where nothing may skip."""
    if condition:
        return
    message = f"{what} is not installed; {install}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


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
