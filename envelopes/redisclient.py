"""The one way a worker or a gateway builds a Redis client: a bounded pool with timeouts.

Without a socket timeout a redis-py call waits for ever on a Redis that is paused,
stopped or cut off by the network, and so does the thread that made it (the heartbeat
that keeps our leases, a gateway's pump). Every client gets a connect and a read timeout
(``SOCKETHUB_REDIS_TIMEOUT``), a health check of connections idle for a while (a
connection cut while idle is found before a command is lost on it), and a blocking pool:
under many threads or greenlets the default pool raises instead of waiting for a free
connection.

A ``REDIS_URL`` naming Sentinels (``envelopes/redisurl.py``) gives a client of the group's
primary, as the Sentinels name it (redis-py's ``Sentinel.master_for``): every new
connection asks them, so after a failover the pool reconnects to the new primary. A
command that meets a dead or demoted primary (``ConnectionError``, which includes
``READONLY`` from a primary turned replica) is tried again on a fresh connection, a few
times over about a second; a longer failover surfaces as the error it is, to the loops
that already ride out a Redis restart (the pump, the heartbeat, the event publisher).
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from .redisurl import SENTINEL_TIMEOUT, SentinelTarget, sentinel_target

__all__ = ["redis_client", "MIN_TIMEOUT", "HEALTH_CHECK_INTERVAL"]

MIN_TIMEOUT = 3.0  # above the gateway pump's 2 s blocking read, which must not time out
HEALTH_CHECK_INTERVAL = 30  # seconds idle before a connection is PINGed on next use
FAILOVER_RETRIES = 3  # tries again of a command that met a primary gone: 0.1, 0.2, 0.4 s


def redis_client(
    url: str, *, timeout: float, max_connections: int, min_timeout: float = MIN_TIMEOUT
) -> redis.Redis:
    """``timeout`` seconds for a connect, a command's answer and a free pool connection;
    at least ``min_timeout`` (a client whose commands block, e.g. ``XREAD BLOCK``, passes
    more than the block time)."""
    timeout = max(timeout, min_timeout)
    target = sentinel_target(url)
    if target is not None:
        return _primary_of(target, timeout, max_connections)
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=HEALTH_CHECK_INTERVAL,
    )
    return redis.Redis(connection_pool=pool)


class _BlockingSentinelPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """Sentinel's pool (connections to whichever server is primary now) that waits for a
    free connection, as ours do, instead of raising past ``max_connections``."""


def _primary_of(target: SentinelTarget, timeout: float, max_connections: int) -> redis.Redis:
    sentinels = Sentinel(
        list(target.sentinels),
        sentinel_kwargs={
            "socket_timeout": SENTINEL_TIMEOUT,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
            # Every pool connection may ask at once after a failover: never more than that.
            "max_connections": max_connections,
        },
    )
    options: dict[str, Any] = {
        "db": target.db,
        "username": target.username,
        "password": target.password,
        "max_connections": max_connections,
        "timeout": timeout,
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "retry": Retry(
            ExponentialBackoff(cap=0.4, base=0.1),
            FAILOVER_RETRIES,
            supported_errors=(RedisConnectionError,),
        ),
    }
    client: redis.Redis = sentinels.master_for(
        target.master, connection_pool_class=_BlockingSentinelPool, **options
    )
    return client
