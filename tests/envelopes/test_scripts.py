"""One script run many times in one round trip, surviving a Redis that lost its scripts."""

from __future__ import annotations

from typing import Any

from envelopes.scripts import run_many

_INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


def test_each_call_runs_in_order_and_answers(redis_client: Any) -> None:
    script = redis_client.register_script(_INCR)
    assert run_many(redis_client, script, [(["n"], [1]), (["n"], [2]), (["m"], [5])]) == [1, 3, 5]


def test_a_flushed_script_cache_is_loaded_again_and_nothing_runs_twice(redis_client: Any) -> None:
    script = redis_client.register_script(_INCR)
    run_many(redis_client, script, [(["n"], [1])])
    redis_client.script_flush()  # as after a Redis restart
    assert run_many(redis_client, script, [(["n"], [1]), (["n"], [1])]) == [2, 3]
    assert int(redis_client.get("n")) == 3
