"""Long queries are rewritten in worker processes: the same answers as on the event loop, the loop free
meanwhile, one tenant's turn at a time, and a dead worker answered with a clear error, never with SQL."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
from collections.abc import AsyncIterator

import pytest

from gateway.data.rewrite_pool import WORKER_NICENESS, RewritePool, RewriteWorkersFailed
from gateway.http.rate_limit import RateLimited
from gateway.rls.catalog import Catalog
from gateway.rls.errors import QueryTooCostly, RewriteRefused
from gateway.rls.rewrite import RewriteCache, rewrite_sql
from tests.rls.queries import ACCEPTED, REFUSED
from tests.rls.schema import RULE_SETS

pytestmark = pytest.mark.anyio

CATALOG: Catalog = RULE_SETS[0].catalog("postgres")


FILTERED_ORDERS = "(SELECT * FROM public.orders WHERE (orders.tenant_id = 1)) AS orders"
SUBQUERIES = 150


def every_read_filtered(rewritten: str) -> bool:
    return rewritten.count(FILTERED_ORDERS) == SUBQUERIES + 1 == rewritten.count("public.orders")


def heavy_query(seed: int) -> str:
    """About 0.1 s of parsing and analysis; ``seed`` makes each one new to the cache."""
    subqueries = (f"id IN (SELECT id FROM orders WHERE amount > {seed + i})" for i in range(SUBQUERIES))
    conditions = " AND ".join(subqueries)
    return f"SELECT id FROM orders WHERE {conditions}"


@pytest.fixture
async def pool() -> AsyncIterator[RewritePool]:
    every_query_in_workers = RewritePool(RewriteCache(), inline_chars=0)
    yield every_query_in_workers
    every_query_in_workers.close()


async def test_workers_rewrite_exactly_as_the_event_loop_does(pool: RewritePool) -> None:
    for sql in ACCEPTED:
        inline = rewrite_sql(sql, dialect="postgres", catalog=CATALOG)
        assert await pool.rewrite_sql(sql, tenant_id="t", dialect="postgres", catalog=CATALOG) == inline


async def test_refusals_come_back_from_the_workers_with_their_code(pool: RewritePool) -> None:
    for sql, code in REFUSED.items():
        with pytest.raises(RewriteRefused) as refusal:
            await pool.rewrite_sql(sql, tenant_id="t", dialect="postgres", catalog=CATALOG)
        assert refusal.value.code == code, sql
    with pytest.raises(QueryTooCostly):
        await pool.rewrite_sql(
            "SELECT " + "abs(" * 300 + "1" + ")" * 300, tenant_id="t", dialect="postgres", catalog=CATALOG
        )


async def test_the_event_loop_keeps_turning_while_a_worker_rewrites(pool: RewritePool) -> None:
    await pool.rewrite_sql("SELECT 1", tenant_id="t", dialect="postgres", catalog=CATALOG)  # workers up
    heavy = asyncio.ensure_future(
        pool.rewrite_sql(heavy_query(0), tenant_id="t", dialect="postgres", catalog=CATALOG)
    )
    turns = 0
    while not heavy.done():
        await asyncio.sleep(0)
        turns += 1
    assert every_read_filtered(await heavy)
    assert turns > 100  # on the loop, the rewrite would have run between two turns


async def test_workers_run_below_the_event_loops_priority(pool: RewritePool) -> None:
    await pool.rewrite_sql("SELECT 1", tenant_id="t", dialect="postgres", catalog=CATALOG)
    workers = multiprocessing.active_children()
    assert workers
    for worker in workers:
        assert os.getpriority(os.PRIO_PROCESS, worker.pid) == os.nice(0) + WORKER_NICENESS


async def test_a_tenant_waits_for_its_own_turn_not_for_others() -> None:
    pool = RewritePool(RewriteCache(), inline_chars=0, tenant_wait_seconds=0.01)
    try:
        await pool.rewrite_sql("SELECT 1", tenant_id="a", dialect="postgres", catalog=CATALOG)
        first = asyncio.ensure_future(
            pool.rewrite_sql(heavy_query(1), tenant_id="a", dialect="postgres", catalog=CATALOG)
        )
        await asyncio.sleep(0)
        with pytest.raises(RateLimited) as refusal:
            await pool.rewrite_sql(heavy_query(2), tenant_id="a", dialect="postgres", catalog=CATALOG)
        assert refusal.value.headers == {"Retry-After": "1"}
        other_tenant = await pool.rewrite_sql(
            heavy_query(3), tenant_id="b", dialect="postgres", catalog=CATALOG
        )
        assert every_read_filtered(other_tenant)
        assert every_read_filtered(await first)
    finally:
        pool.close()


async def test_a_worker_killed_mid_rewrite_answers_an_error_and_the_next_query_gets_fresh_workers(
    pool: RewritePool,
) -> None:
    await pool.rewrite_sql("SELECT 1", tenant_id="t", dialect="postgres", catalog=CATALOG)
    heavy = asyncio.ensure_future(
        pool.rewrite_sql(heavy_query(4), tenant_id="t", dialect="postgres", catalog=CATALOG)
    )
    await asyncio.sleep(0.02)
    for worker in multiprocessing.active_children():
        os.kill(worker.pid, signal.SIGKILL)
    with pytest.raises(RewriteWorkersFailed):
        await heavy
    rewritten = await pool.rewrite_sql(heavy_query(5), tenant_id="t", dialect="postgres", catalog=CATALOG)
    assert every_read_filtered(rewritten)
