"""The rewrite LRU and the resolved-predicate cache over a real Redis."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable

import pytest
from redis.asyncio import Redis
from sqlglot import exp

from gateway.rls.cache import PredicateCache, PredicateKey
from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.errors import ResolutionError, RewriteRefused
from gateway.rls.rewrite import RewriteCache
from tests.rls.helpers import REDIS_URL

NOW = 1_000_000.0


def _catalog(clause: str) -> Catalog:
    return Catalog.build(
        {"public.orders": parse_clause(clause, dialect="postgres", columns=None)}, dialect="postgres"
    )


def test_rewrite_cache_never_serves_a_rewrite_made_under_other_predicates() -> None:
    cache = RewriteCache(maxsize=8)
    query = "SELECT * FROM orders"
    first = cache.rewrite_sql(query, dialect="postgres", catalog=_catalog("tenant_id = 1"))
    second = cache.rewrite_sql(query, dialect="postgres", catalog=_catalog("tenant_id = 2"))
    assert "tenant_id = 1" in first
    assert "tenant_id = 2" in second
    assert cache.rewrite_sql(query, dialect="postgres", catalog=_catalog("tenant_id = 1")) == first


def test_rewrite_cache_keeps_refusing_a_refused_query() -> None:
    cache = RewriteCache(maxsize=8)
    for _ in range(2):
        with pytest.raises(RewriteRefused) as refusal:
            cache.rewrite_sql("SELECT * FROM secrets", dialect="postgres", catalog=_catalog("tenant_id = 1"))
        assert refusal.value.code == "table_forbidden"


def test_rewrite_cache_evicts_the_least_recently_used_entry() -> None:
    cache = RewriteCache(maxsize=2)
    catalog = _catalog("tenant_id = 1")
    for query in ("SELECT 1 FROM orders", "SELECT 2 FROM orders", "SELECT 3 FROM orders"):
        cache.rewrite_sql(query, dialect="postgres", catalog=catalog)
    assert len(cache) == 2


class _Resolver:
    """Counts resolutions, to tell cache hits from misses."""

    def __init__(self, clause: str | None) -> None:
        self.calls = 0
        self._clause = clause

    def __call__(self) -> exp.Expr | None:
        self.calls += 1
        return parse_clause(self._clause, dialect="postgres", columns=None) if self._clause else None


def _key(rules_hash: str = "h1", dataset: str = "orders") -> PredicateKey:
    return PredicateKey(tenant="acme", registry_version=3, rules_hash=rules_hash, dataset=dataset)


def _with_redis(test: Callable[[Redis, str], Awaitable[None]]) -> None:
    """Run ``test(redis, prefix)`` against the real Redis; its keys (under a random prefix) are deleted."""

    async def run() -> None:
        redis = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        prefix = f"gw-rls-test-{secrets.token_hex(6)}"
        try:
            await test(redis, prefix)
        finally:
            keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()

    asyncio.run(run())


@pytest.mark.redis
def test_predicate_is_shared_through_redis_between_replicas() -> None:
    async def test(redis: Redis, prefix: str) -> None:
        first_replica = PredicateCache(redis, dialect="postgres", prefix=prefix, clock=lambda: NOW)
        second_replica = PredicateCache(redis, dialect="postgres", prefix=prefix, clock=lambda: NOW)
        resolver = _Resolver("tenant_id = 1 OR region = 'EU'")
        first = await first_replica.get_or_resolve(_key(), expires_at=NOW + 60, resolve=resolver)
        second = await second_replica.get_or_resolve(_key(), expires_at=NOW + 60, resolve=resolver)
        assert resolver.calls == 1
        assert first is not None
        assert second is not None
        assert second.sql("postgres") == first.sql("postgres") == "tenant_id = 1 OR region = 'EU'"
        ttl_ms = await redis.pttl(_key().redis_key(prefix))
        assert 0 < ttl_ms <= 60_000

    _with_redis(test)


@pytest.mark.redis
def test_no_filter_is_cached_as_no_filter_and_other_rules_miss() -> None:
    async def test(redis: Redis, prefix: str) -> None:
        cache = PredicateCache(redis, dialect="postgres", prefix=prefix, clock=lambda: NOW)
        unfiltered = _Resolver(None)
        assert await cache.get_or_resolve(_key(), expires_at=NOW + 60, resolve=unfiltered) is None
        assert await cache.get_or_resolve(_key(), expires_at=NOW + 60, resolve=unfiltered) is None
        assert unfiltered.calls == 1
        filtered = _Resolver("tenant_id = 2")
        other = await cache.get_or_resolve(_key(rules_hash="h2"), expires_at=NOW + 60, resolve=filtered)
        assert other is not None
        assert filtered.calls == 1

    _with_redis(test)


@pytest.mark.redis
def test_an_unreadable_shared_entry_is_an_error_never_no_filter() -> None:
    async def test(redis: Redis, prefix: str) -> None:
        await redis.set(_key().redis_key(prefix), b"{not json", px=60_000)
        cache = PredicateCache(redis, dialect="postgres", prefix=prefix, clock=lambda: NOW)
        with pytest.raises(ResolutionError) as failure:
            await cache.get_or_resolve(_key(), expires_at=NOW + 60, resolve=_Resolver(None))
        assert failure.value.code == "cache_corrupt"

    _with_redis(test)


def test_keys_of_different_tenants_never_meet_in_redis() -> None:
    first = PredicateKey(tenant="acme:1", registry_version=2, rules_hash="h", dataset="orders")
    second = PredicateKey(tenant="acme", registry_version=1, rules_hash="2:h", dataset="orders")
    assert first.redis_key("p") != second.redis_key("p")


def test_entries_do_not_outlive_the_token() -> None:
    now = [NOW]
    cache = PredicateCache(None, dialect="postgres", clock=lambda: now[0])
    resolver = _Resolver("tenant_id = 1")

    async def run() -> None:
        await cache.get_or_resolve(_key(), expires_at=NOW + 10, resolve=resolver)
        now[0] = NOW + 11
        await cache.get_or_resolve(_key(), expires_at=NOW + 100, resolve=resolver)

    asyncio.run(run())
    assert resolver.calls == 2


def test_invalidating_a_tenant_drops_its_entries() -> None:
    cache = PredicateCache(None, dialect="postgres", clock=lambda: NOW)
    resolver = _Resolver("tenant_id = 1")

    async def run() -> None:
        await cache.get_or_resolve(_key(), expires_at=NOW + 60, resolve=resolver)
        cache.invalidate_tenant("acme")
        await cache.get_or_resolve(_key(), expires_at=NOW + 60, resolve=resolver)

    asyncio.run(run())
    assert resolver.calls == 2


def test_an_unreachable_redis_is_an_error_never_no_filter() -> None:
    async def run() -> None:
        # A port nothing listens on: connection refused at once.
        redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
        cache = PredicateCache(redis, dialect="postgres", clock=lambda: NOW)
        try:
            with pytest.raises(ResolutionError) as failure:
                await cache.get_or_resolve(_key(), expires_at=NOW + 60, resolve=_Resolver(None))
            assert failure.value.code == "cache_unavailable"
        finally:
            await redis.aclose()

    asyncio.run(run())
