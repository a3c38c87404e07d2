"""Query results, cached by (tenant, warehouse, rewritten SQL, row limit).

The rewritten SQL carries every row-level predicate, so two users whose rules differ can never
share an entry, and no entry can leak across tenants. Nothing needs invalidating on a registry
change either: a changed filter, chart or dataset changes the SQL, hence the key. Redis holds
the entries when configured (shared by every replica); otherwise a bounded in-process map does.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from typing import Any, Final

from redis.asyncio import Redis

_LOCAL_ENTRIES: Final = 1024


def result_key(tenant_id: str, warehouse: str, sql: str, row_limit: int) -> str:
    return hashlib.sha256(json.dumps([tenant_id, warehouse, sql, row_limit]).encode()).hexdigest()


class ResultCache:
    def __init__(self, redis: Redis | None, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}results:"
        self._local: OrderedDict[str, tuple[float, str]] = OrderedDict()

    async def get(self, key: str) -> dict[str, Any] | None:
        if self._redis is not None:
            raw = await self._redis.get(self._prefix + key)
            return None if raw is None else dict(json.loads(raw))
        entry = self._local.get(key)
        if entry is None or entry[0] <= time.monotonic():
            self._local.pop(key, None)
            return None
        self._local.move_to_end(key)
        return dict(json.loads(entry[1]))

    async def put(self, key: str, value: dict[str, Any], *, ttl_seconds: int) -> None:
        if ttl_seconds <= 0:
            return
        text = json.dumps(value, separators=(",", ":"))
        if self._redis is not None:
            await self._redis.set(self._prefix + key, text, ex=ttl_seconds)
            return
        self._local[key] = (time.monotonic() + ttl_seconds, text)
        self._local.move_to_end(key)
        while len(self._local) > _LOCAL_ENTRIES:
            self._local.popitem(last=False)
