"""Bounded answers end to end (issue 17): an answer over the tenant's `max_result_bytes` is refused
with 422 `result_too_large` and nothing of it is sent; the result cache keeps no oversized answer.

The size counted is the answer's rows as compact JSON. Text made by `repeat` and its kin is capped per
query by the rewriter (`value_too_large`), so large answers here are many rows of bounded text; the
connectors' own reads of huge values are tried in tests/warehouse. ClickHouse 18 has no `repeat()`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Any

import pytest
from redis.asyncio import Redis

from gateway.data.result_cache import ResultCache
from tests.dataplane.conftest import ALL_ORDERS_COLUMNS, DataGateway, Engine, data_of, refused
from tests.support.services import REDIS_URL

ORDERS = f"SELECT {', '.join(ALL_ORDERS_COLUMNS)} FROM orders ORDER BY order_id"
# The engines with repeat(): ClickHouse 18 has none.
on_repeating_engines = pytest.mark.parametrize("engine", ["duckdb", "postgres"], indirect=True)


def too_large(response: Any, max_bytes: int) -> None:
    error = refused(response, 422, "result_too_large")
    assert f"max_result_bytes ({max_bytes} bytes)" in error["message"], error


# 10,000 characters a row, from a cross join with more rows than a limit asks for.
MANY_BIG_ROWS = "select repeat('x', 10000) as big from orders a cross join orders b limit {rows}"


def test_huge_made_values_are_refused_before_the_warehouse_makes_them(
    gw: DataGateway, engine: Engine
) -> None:
    tenant = gw.onboard_demo(engine, 1)
    token = gw.guest(tenant, datasets=["orders"])
    for sql in (
        "select repeat('x', 16000000) as big from orders limit 6",
        "select lpad(region, 20000000, 'x') as big from orders limit 1",
        "select repeat(region, 100000) as big from orders",
        "select " + " || ".join(["repeat('x', 10000)"] * 11) + " as big from orders",
    ):
        error = refused(gw.query(token, sql), 422, "value_too_large")
        assert "REPEAT" in error["message"].upper() or "PAD" in error["message"].upper(), error
    # The tenant is served as before.
    assert data_of(gw.query(token, "select count(*) from orders"))["rowcount"] == 1


@on_repeating_engines
def test_many_rows_of_bounded_text_over_the_bound_are_refused(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(engine, 1)
    token = gw.guest(tenant, datasets=["orders"])
    too_large(gw.query(token, MANY_BIG_ROWS.format(rows=1_100)), 10_000_000)  # 11 MB


def test_the_bound_is_the_tenants_and_raised_through_the_api(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(engine, 1, settings={"max_result_bytes": 1_000})
    assert gw.admin.get(f"/api/v1/tenants/{tenant.slug}").json()["max_result_bytes"] == 1_000
    token = gw.guest(tenant, datasets=["orders"])
    too_large(gw.query(token, ORDERS), 1_000)
    small = data_of(gw.query(token, ORDERS, row_limit=3))
    assert small["rowcount"] == 3

    response = gw.admin.patch(f"/api/v1/tenants/{tenant.slug}", json={"max_result_bytes": 10_000_000})
    assert response.status_code == 200, response.text
    assert response.json()["max_result_bytes"] == 10_000_000
    whole = data_of(gw.query(token, ORDERS))
    assert whole["rowcount"] == len(engine.all_orders("tenant_id = 1"))

    over = gw.admin.patch(f"/api/v1/tenants/{tenant.slug}", json={"max_result_bytes": 100_000_001})
    assert over.status_code == 422, over.text


def test_lowering_the_bound_stops_serving_a_cached_larger_answer(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(engine, 1)
    token = gw.guest(tenant, datasets=["orders"])
    assert not data_of(gw.query(token, ORDERS))["cached"]
    assert data_of(gw.query(token, ORDERS))["cached"]
    response = gw.admin.patch(f"/api/v1/tenants/{tenant.slug}", json={"max_result_bytes": 1_000})
    assert response.status_code == 200, response.text
    too_large(gw.query(token, ORDERS), 1_000)


@on_repeating_engines
def test_an_answer_over_the_cache_entry_bound_is_served_not_kept(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(engine, 1)
    token = gw.guest(tenant, datasets=["orders"])
    sql = MANY_BIG_ROWS.format(rows=120)  # 1.2 MB: over the 1 MB entry bound
    first, again = data_of(gw.query(token, sql)), data_of(gw.query(token, sql))
    assert first["rows"] == again["rows"] == [["x" * 10_000]] * 120
    assert (first["cached"], again["cached"]) == (False, False)


def test_the_result_cache_keeps_neither_layer_over_its_entry_bound() -> None:
    asyncio.run(_cache_keeps_neither_layer_over_its_entry_bound())


async def _cache_keeps_neither_layer_over_its_entry_bound() -> None:
    redis = Redis.from_url(REDIS_URL)
    prefix = f"test-{secrets.token_hex(4)}:"
    cache = ResultCache(redis, prefix=prefix, max_entry_bytes=100)
    try:
        small, large = '{"rows":["xxxxxxxxxx"]}', json.dumps({"rows": ["x" * 200]})
        assert await cache.put("small", small, ttl_seconds=60) == small
        assert await cache.put("large", large, ttl_seconds=60) == large
        assert await cache.get("small") is not None
        assert await cache.get("large") is None
        assert await redis.exists(f"{prefix}results:small") == 1
        assert await redis.exists(f"{prefix}results:large") == 0
    finally:
        keys = [key async for key in redis.scan_iter(f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
