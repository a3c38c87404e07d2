"""At most N units of work at a time per key (e.g. a tenant's queries running in its warehouses).

Shared through Redis when configured: each held slot is a lease in a sorted set, scored by when it
expires (Redis's clock, so replicas' clocks need not agree). The replica holding a slot renews its
lease while the work runs; a replica that dies stops renewing, and its slots free themselves once their
leases expire. In process otherwise, and also while Redis cannot be reached: then each replica allows N
on its own, a limit that errs by the number of replicas for the length of an outage rather than
refusing every request or answering 500.

Beyond the limit the caller is refused at once, never queued: a queue would let one key's slow work
hold requests (and sockets) that another key's could use.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.http.rate_limit import RateLimited

# Takes a slot when fewer than ARGV[1] unexpired leases are held; ARGV[2]: lease ms; ARGV[3]: lease id.
_ACQUIRE: Final = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""
# Pushes back the expiry of a lease still held (ARGV[2]); one that already expired is not taken again.
_RENEW: Final = """
local clock = redis.call('TIME')
local now = clock[1] * 1000 + math.floor(clock[2] / 1000)
if redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2]) == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return 1
"""
RETRY_AFTER_SECONDS: Final = 1
"""A slot frees when some query ends, which cannot be foreseen: the client may try again soon."""


class ConcurrencyLimiter:
    def __init__(
        self,
        redis: Redis | None,
        *,
        prefix: str,
        name: str,
        limit: int,
        lease_seconds: float,
        refusal: str,
    ) -> None:
        """`refusal` is the message of a 429, e.g. "this tenant already runs 8 queries"."""
        self._redis = redis
        self._prefix = f"{prefix}slots:{name}:"
        self.limit = limit
        self.lease_seconds = lease_seconds
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._refusal_message = f"{refusal}; retry in {RETRY_AFTER_SECONDS} s"
        self._held_locally: dict[str, int] = {}
        if redis is not None:
            self._acquire_script = redis.register_script(_ACQUIRE)
            self._renew_script = redis.register_script(_RENEW)

    @contextlib.asynccontextmanager
    async def slot(self, key: str) -> AsyncIterator[None]:
        """Hold one of `key`'s slots for the body; raise `RateLimited` when all are taken."""
        lease = await self._lease_in_redis(key) if self._redis is not None else None
        if lease is None:
            self._take_locally(key)
            try:
                yield
            finally:
                self._release_locally(key)
            return
        renewing = asyncio.create_task(self._renew(*lease))
        try:
            yield
        finally:
            renewing.cancel()
            await self._release_in_redis(*lease)

    def _refusal(self) -> RateLimited:
        return RateLimited(self._refusal_message, retry_after=RETRY_AFTER_SECONDS)

    def _take_locally(self, key: str) -> None:
        held = self._held_locally.get(key, 0)
        if held >= self.limit:
            raise self._refusal()
        self._held_locally[key] = held + 1

    def _release_locally(self, key: str) -> None:
        held = self._held_locally.pop(key) - 1
        if held:
            self._held_locally[key] = held

    async def _lease_in_redis(self, key: str) -> tuple[str, str] | None:
        """The Redis key and lease id of a slot taken; None when Redis cannot be reached."""
        redis_key, lease_id = f"{self._prefix}{key}", secrets.token_hex(8)
        try:
            taken = await self._acquire_script(keys=[redis_key], args=[self.limit, self._lease_ms, lease_id])
        except (RedisError, OSError):
            return None
        if not taken:
            raise self._refusal()
        return redis_key, lease_id

    async def _renew(self, redis_key: str, lease_id: str) -> None:
        # Three renewals per lease: one lost to a slow or failed Redis call does not let it lapse.
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            with contextlib.suppress(RedisError, OSError):
                await self._renew_script(keys=[redis_key], args=[self._lease_ms, lease_id])

    async def _release_in_redis(self, redis_key: str, lease_id: str) -> None:
        assert self._redis is not None
        # Should the release fail, the lease, no longer renewed, expires on its own.
        with contextlib.suppress(RedisError, OSError):
            await self._redis.zrem(redis_key, lease_id)
