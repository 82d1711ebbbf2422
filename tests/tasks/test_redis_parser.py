"""The Redis protocol is parsed by hiredis (a dependency), not by redis-py's Python parser:
the parser was a fifth of the worker's CPU per task (bench/profile.md)."""

from __future__ import annotations

from envelopes.settings import Settings
from tasks.app import make_celery
from tasks.startup import enabled_registry


def test_the_workers_redis_client_parses_with_hiredis():
    settings = Settings(redis_url="redis://127.0.0.1:1/0", secret="x" * 32)
    lazy = make_celery(settings, enabled_registry(settings)).sockethub  # type: ignore[attr-defined]
    conn = lazy.get().redis.connection_pool.make_connection()
    assert type(conn._parser).__name__ == "_HiredisParser", "pip install -e . (hiredis)"
