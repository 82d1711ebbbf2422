"""The one way a worker or a gateway builds a Redis client: a bounded pool with timeouts.

Without a socket timeout a redis-py call waits for ever on a Redis that is paused,
stopped or cut off by the network, and so does the thread that made it (the heartbeat
that keeps our leases, a gateway's pump). Every client gets a connect and a read timeout
(``SOCKETHUB_REDIS_TIMEOUT``), a health check of connections idle for a while (a
connection cut while idle is found before a command is lost on it), and a blocking pool:
under many threads or greenlets the default pool raises instead of waiting for a free
connection.
"""

from __future__ import annotations

import redis

__all__ = ["redis_client", "MIN_TIMEOUT", "HEALTH_CHECK_INTERVAL"]

MIN_TIMEOUT = 3.0  # above the gateway pump's 2 s blocking read, which must not time out
HEALTH_CHECK_INTERVAL = 30  # seconds idle before a connection is PINGed on next use


def redis_client(
    url: str, *, timeout: float, max_connections: int, min_timeout: float = MIN_TIMEOUT
) -> redis.Redis:
    """``timeout`` seconds for a connect, a command's answer and a free pool connection;
    at least ``min_timeout`` (a client whose commands block, e.g. ``XREAD BLOCK``, passes
    more than the block time)."""
    timeout = max(timeout, min_timeout)
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=timeout,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=HEALTH_CHECK_INTERVAL,
    )
    return redis.Redis(connection_pool=pool)
