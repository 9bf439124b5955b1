"""Per-user limits kept in Redis, so they hold across all web processes: request windows and stream slots.

Each check is one Lua script, atomic on the Redis server: no read-modify-write race between processes.
When Redis cannot be reached the limits let requests through and log it: the streams already run in a
degraded mode then, and refusing all work because a counter is unreachable would be worse than not counting.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from functools import cache

import redis
from django.conf import settings

logger = logging.getLogger("contentgen.ratelimit")

# Sliding window. KEYS[1] a sorted set of "<id>:<amount>" scored by time; ARGV now, window, amount, limit, id.
# Returns 0 when taken, else the seconds until enough of the window has passed for `amount` to fit.
_TAKE = """
local now, window, amount, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local entries = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local used = 0
for i = 1, #entries, 2 do used = used + tonumber(string.match(entries[i], ':(%d+)$')) end
if used + amount <= limit then
  redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. amount)
  redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
  return '0'
end
for i = 1, #entries, 2 do
  used = used - tonumber(string.match(entries[i], ':(%d+)$'))
  if used + amount <= limit then return tostring(tonumber(entries[i + 1]) + window - now) end
end
return tostring(window)
"""
# KEYS[1] a sorted set of slot ids scored by expiry; ARGV now, limit, expiry, slot id, ttl. 1 = acquired.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""
TIMEOUT = 0.5


@cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)


def take(key: str, *, amount: int, limit: int, window: int) -> float:
    """Count `amount` against `limit` per sliding `window` seconds: 0.0 when allowed, else seconds to wait.

    `limit` 0 means no limit. An amount larger than the limit can never pass: its wait is the window.
    """
    if limit <= 0 or amount <= 0:
        return 0.0
    if amount > limit:
        return float(window)
    try:
        entry = uuid.uuid4().hex
        wait = _client().eval(_TAKE, 1, f"ratelimit:{key}", time.time(), window, amount, limit, entry)
    except redis.RedisError:
        logger.warning("rate limit %s not checked: Redis is unreachable", key)
        return 0.0
    return max(1.0, math.ceil(float(wait))) if float(wait) > 0 else 0.0


def acquire_slot(key: str, slot: str, *, limit: int, ttl: float) -> bool:
    """Hold one of `limit` slots until `release_slot` or, if the holder dies, `ttl` seconds after its last
    `refresh_slot`. `limit` 0 means no limit."""
    if limit <= 0:
        return True
    now = time.time()
    try:
        return bool(
            _client().eval(_ACQUIRE, 1, f"slots:{key}", now, limit, now + ttl, slot, math.ceil(ttl) + 1)
        )
    except redis.RedisError:
        logger.warning("stream slots %s not checked: Redis is unreachable", key)
        return True


def refresh_slot(key: str, slot: str, *, ttl: float) -> None:
    try:
        _client().zadd(f"slots:{key}", {slot: time.time() + ttl}, xx=True)
        _client().expire(f"slots:{key}", math.ceil(ttl) + 1)
    except redis.RedisError:
        logger.warning("stream slot %s not refreshed: Redis is unreachable", key)


def release_slot(key: str, slot: str) -> None:
    try:
        _client().zrem(f"slots:{key}", slot)
    except redis.RedisError:
        logger.warning("stream slot %s not released: Redis is unreachable (it expires by itself)", key)
