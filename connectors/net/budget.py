"""The shared HTTP cache's byte budget: every entry's size booked in Redis, the entries
stored longest ago evicted while the total is over ``max_bytes``
(``SOCKETHUB_FETCH_CACHE_BYTES``). One Lua script, so concurrent stores on many workers
keep one consistent total. Used by ``cache.HttpCache``."""

from __future__ import annotations

import time
from typing import Any

from envelopes import keys as redis_keys

__all__ = ["CacheBooks"]

_BOOKS = redis_keys.http_cache_books()

# KEYS: lru, sizes, total   ARGV: entry prefix, its bytes (0: forget it), now, budget,
# stored-before time of entries expired by their TTL. Returns how many were evicted.
_BOOK = """
local lru, sizes, total_key = KEYS[1], KEYS[2], KEYS[3]
local member, size = ARGV[1], tonumber(ARGV[2])
local function unbook(m)
  local had = tonumber(redis.call('HGET', sizes, m) or '0')
  redis.call('HDEL', sizes, m)
  redis.call('ZREM', lru, m)
  return redis.call('DECRBY', total_key, had)
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', lru, '-inf', ARGV[5], 'LIMIT', 0, 100)) do
  unbook(m)
end
local total = unbook(member)
if size == 0 then return 0 end
redis.call('HSET', sizes, member, size)
redis.call('ZADD', lru, ARGV[3], member)
total = redis.call('INCRBY', total_key, size)
local evicted = 0
while total > tonumber(ARGV[4]) do
  local oldest = redis.call('ZRANGE', lru, 0, 0)[1]
  if (not oldest) or oldest == member then break end
  redis.call('DEL', oldest .. ':e', oldest .. ':f')
  total = unbook(oldest)
  evicted = evicted + 1
end
return evicted
"""


class CacheBooks:
    def __init__(self, redis: Any, max_bytes: int, ttl: float) -> None:
        self._script = redis.register_script(_BOOK)
        self.max_bytes, self.ttl = max_bytes, ttl

    def book(self, entry: str, size: int) -> int:
        """Book ``size`` bytes for the entry prefix ``entry`` (0: take it off the books);
        evict the entries stored longest ago while over budget. How many were evicted."""
        now = time.time()
        return int(
            self._script(
                keys=[f"{_BOOKS}:lru", f"{_BOOKS}:sizes", f"{_BOOKS}:bytes"],
                args=[entry, size, repr(now), self.max_bytes, repr(now - self.ttl)],
            )
        )
