"""Query results, cached by (tenant, warehouse, rewritten SQL, row limit).

The rewritten SQL carries every row-level predicate, so two users whose rules differ can never
share an entry, and no entry can leak across tenants. Nothing needs invalidating on a registry
change either: a changed filter, chart or dataset changes the SQL, hence the key.

Entries are the answer's JSON text. A bounded in-process map answers repeated requests without a
network call; Redis, when configured, shares entries between replicas behind it (a local entry
lives no longer than the shared one had left). An answer longer than the entry bound is served but
stored in neither layer: 1024 local entries of at most 1 MB each keep the process's share bounded.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.http.errors import ApiError
from gateway.lru import LruCache

_LOCAL_ENTRIES: Final = 1024
MAX_ENTRY_BYTES: Final = 1_000_000
_UNREACHABLE: Final = "the result cache cannot be reached; try again shortly"


class ResultCacheUnavailable(ApiError):
    """Redis failed while answering: no rows rather than an answer of unknown standing."""

    status = 503
    code = "result_cache_unavailable"


def result_key(tenant_id: str, warehouse: str, sql: str, row_limit: int) -> str:
    """A hash: `warehouse` may name a connection URL with its password."""
    return hashlib.sha256(json.dumps([tenant_id, warehouse, sql, row_limit]).encode()).hexdigest()


class ResultCache:
    def __init__(self, redis: Redis | None, *, prefix: str, max_entry_bytes: int = MAX_ENTRY_BYTES) -> None:
        self._redis = redis
        self._prefix = f"{prefix}results:"
        self._local: LruCache[str, str] = LruCache(_LOCAL_ENTRIES)
        self._max_entry_bytes = max_entry_bytes

    async def get(self, key: str) -> str | None:
        local = self._local.get(key)
        if local is not None:
            return local
        if self._redis is None:
            return None
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(self._prefix + key)
                pipe.pttl(self._prefix + key)
                raw, ttl_ms = await pipe.execute()
        except RedisError:
            raise ResultCacheUnavailable(_UNREACHABLE) from None
        if raw is None or ttl_ms <= 0:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        if len(raw) <= self._max_entry_bytes:  # a larger one was stored by a replica with a higher bound
            self._local.put(key, text, expires_at=time.monotonic() + ttl_ms / 1000)
        return text

    async def put(self, key: str, text: str, *, ttl_seconds: int) -> str:
        """Store the JSON `text` unless it is over the entry bound; returns it (what `get` will answer)."""
        # A text has at least as many bytes as characters: a long one is not worth encoding to find out.
        if ttl_seconds <= 0 or len(text) > self._max_entry_bytes:
            return text
        encoded = text.encode()
        if len(encoded) > self._max_entry_bytes:
            return text
        if self._redis is not None:
            try:
                await self._redis.set(self._prefix + key, encoded, ex=ttl_seconds)
            except RedisError:
                raise ResultCacheUnavailable(_UNREACHABLE) from None
        self._local.put(key, text, expires_at=time.monotonic() + ttl_seconds)
        return text
