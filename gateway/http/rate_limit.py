"""A fixed-window request counter per key (e.g. guest tokens minted per app per minute).

Shared through Redis when configured, so the limit holds across replicas; in process otherwise. While
Redis cannot be reached, each replica counts in process: a limit that errs by the number of replicas
for the length of an outage, rather than refusing every request or answering 500.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.http.errors import ApiError


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Retry-After": str(self.retry_after)}


class FixedWindowLimiter:
    def __init__(
        self, redis: Redis | None, *, prefix: str, name: str, limit: int, window_seconds: int = 60
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}rate:{name}:"
        self.limit = limit
        self.window_seconds = window_seconds
        self._local: dict[tuple[str, int], int] = {}

    async def hit(self, key: str) -> None:
        """Count one request for `key`; raise `RateLimited` once the window's allowance is spent."""
        now = time.time()
        window = int(now // self.window_seconds)
        count = await self._increment(key, window)
        if count > self.limit:
            retry_after = max(1, math.ceil((window + 1) * self.window_seconds - now))
            raise RateLimited(
                f"more than {self.limit} requests in {self.window_seconds} s; retry in {retry_after} s",
                retry_after=retry_after,
            )

    async def _increment(self, key: str, window: int) -> int:
        if self._redis is None:
            return self._increment_locally(key, window)
        redis_key = f"{self._prefix}{key}:{window}"
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(redis_key)
                pipe.expire(redis_key, self.window_seconds * 2)
                count, _ = await pipe.execute()
        except (RedisError, OSError):
            return self._increment_locally(key, window)
        return int(count)

    def _increment_locally(self, key: str, window: int) -> int:
        for stale in [k for k in self._local if k[1] < window]:
            del self._local[stale]
        self._local[(key, window)] = self._local.get((key, window), 0) + 1
        return self._local[(key, window)]
