"""The cache of resolved predicates: an in-process LRU in front of Redis (or alone, without Redis).

Key: (tenant, registry version, hash of the token's rules and user attributes, dataset). An entry lives no
longer than the token that caused it. A Redis failure is raised (fail closed), never read as "no filter".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlglot
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlglot import exp
from sqlglot.errors import SqlglotError

from gateway.lru import LruCache
from gateway.rls.dialects import dialect_of
from gateway.rls.errors import ResolutionError


@dataclass(frozen=True)
class PredicateKey:
    """What a resolved predicate depends on; ``rules_hash`` is ``resolve.rules_fingerprint``."""

    tenant: str
    registry_version: int
    rules_hash: str
    dataset: str

    def redis_key(self, prefix: str) -> str:
        # JSON keeps the parts apart whatever they contain: "a:1" + "b" never meets "a" + "1:b".
        parts = [self.tenant, self.registry_version, self.rules_hash, self.dataset]
        return f"{prefix}:{json.dumps(parts, separators=(',', ':'))}"


class PredicateCache:
    """Resolved predicates by ``PredicateKey``; ``None`` (no filter) is cached like any predicate.

    The Redis client is injected and owned by the caller. Not thread-safe: use one per event loop.
    """

    def __init__(
        self,
        redis: Redis | None,
        *,
        dialect: str,
        prefix: str = "gw:rls:predicate",
        maxsize: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self._redis = redis
        self._dialect = dialect
        self._prefix = prefix
        self._clock = clock
        # One-tuples, as `_read_shared` answers: `(None,)` is "no filter", `None` a miss.
        self._local: LruCache[PredicateKey, tuple[exp.Expr | None]] = LruCache(maxsize, clock=clock)

    async def get_or_resolve(
        self, key: PredicateKey, *, expires_at: float, resolve: Callable[[], exp.Expr | None]
    ) -> exp.Expr | None:
        """The cached predicate for ``key``, or ``resolve()``'s, cached until ``expires_at`` (unix time).

        Raises:
            ResolutionError: ``cache_unavailable`` when Redis fails; whatever ``resolve`` raises.
        """
        local = self._local.get(key)
        if local is not None:
            return local[0]
        ttl = expires_at - self._clock()
        if ttl <= 0:
            return resolve()
        shared = await self._read_shared(key)
        if shared is not None:
            predicate = shared[0]
        else:
            predicate = resolve()
            await self._write_shared(key, predicate, ttl)
        self._local.put(key, (predicate,), expires_at=expires_at)
        return predicate

    def invalidate_tenant(self, tenant: str) -> None:
        """Drop this replica's entries for ``tenant`` (its registry version changed)."""
        for key in self._local:
            if key.tenant == tenant:
                self._local.forget(key)

    async def _read_shared(self, key: PredicateKey) -> tuple[exp.Expr | None] | None:
        if self._redis is None:
            return None
        try:
            raw = await self._redis.get(key.redis_key(self._prefix))
        except RedisError as error:
            raise ResolutionError("cache_unavailable", f"Predicate cache unavailable: {error}") from None
        if raw is None:
            return None
        try:
            stored = json.loads(raw)["predicate"]
            return (
                sqlglot.parse_one(stored, read=dialect_of(self._dialect)) if stored is not None else None,
            )
        except (ValueError, KeyError, TypeError, SqlglotError) as error:
            raise ResolutionError("cache_corrupt", f"Unreadable cached predicate: {error}") from None

    async def _write_shared(self, key: PredicateKey, predicate: exp.Expr | None, ttl: float) -> None:
        if self._redis is None:
            return
        value = json.dumps({"predicate": predicate.sql(self._dialect) if predicate is not None else None})
        try:
            await self._redis.set(key.redis_key(self._prefix), value, px=max(1, int(ttl * 1000)))
        except RedisError as error:
            raise ResolutionError("cache_unavailable", f"Predicate cache unavailable: {error}") from None
