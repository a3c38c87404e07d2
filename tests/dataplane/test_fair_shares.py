"""Fair shares (issue 17): per-tenant (and per-user) data request rates and warehouse query slots.

Real gateway processes on the real Redis. A slow warehouse query is a read of a PostgreSQL table that
the test holds an exclusive lock on: it waits, visibly in `pg_stat_activity`, until the test lets go.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psycopg
import pytest

from tests.dataplane.conftest import (
    ALL_ORDERS_COLUMNS,
    QUERY,
    DataGateway,
    DataTenant,
    Engine,
    data_of,
    guest_headers,
    refused,
    rows_of,
)
from tests.support.guests import Servers
from tests.support.services import ThrowAwayRedis

ALL = "All orders"
COLUMNS = ", ".join(ALL_ORDERS_COLUMNS)
TENANT_RATE = 5
USER_RATE = 3
QUERY_SLOTS = 2
LEASE_SECONDS = 5.0


def assert_rate_limited(response: httpx.Response) -> None:
    refused(response, 429, "rate_limited")
    assert response.headers.get("retry-after") == "1", dict(response.headers)


# -------------------------------------------------------------------------------- request rates


@pytest.fixture(scope="module")
def rated(servers: Servers) -> DataGateway:
    return servers.start(
        DataGateway, GATEWAY_TENANT_DATA_RATE=str(TENANT_RATE), GATEWAY_USER_DATA_RATE=str(USER_RATE)
    )


def until_refused(send: Callable[[int], httpx.Response], *, attempts: int = 40) -> list[httpx.Response]:
    """Answers of `send(0)`, `send(1)`, ... up to and including the first that is not a 200."""
    answers = []
    for attempt in range(attempts):
        answers.append(send(attempt))
        if answers[-1].status_code != 200:
            break
    return answers


def test_a_tenant_over_its_rate_is_refused_while_another_is_answered(
    rated: DataGateway, duckdb_engine: Engine
) -> None:
    a, b = rated.onboard_demo(duckdb_engine, 1), rated.onboard_demo(duckdb_engine, 2)
    # One token per user: the tenant's limit is reached before any user's.
    a_tokens = [rated.guest(a, username=f"user-{n}") for n in range(10)]
    b_token = rated.guest(b)
    chart = {"chart_id": a.chart(ALL)}
    answers = until_refused(lambda n: rated.chart_data(a_tokens[n % 10], chart))
    assert len(answers) > TENANT_RATE, "the tenant was refused within its rate"
    # Refused although its chart's answer is cached: the rate counts requests, not warehouse work.
    assert_rate_limited(answers[-1])
    b_orders = duckdb_engine.all_orders("tenant_id = 2")
    for _ in range(2):
        assert rows_of(rated.chart_data(b_token, {"chart_id": b.chart(ALL)})) == b_orders


def test_a_user_over_its_rate_is_refused_while_the_tenants_other_users_are_answered(
    rated: DataGateway, duckdb_engine: Engine
) -> None:
    tenant = rated.onboard_demo(duckdb_engine, 1)
    alice, bob = (rated.guest(tenant, username=name, datasets=["orders"]) for name in ("alice", "bob"))
    sql = f"SELECT {COLUMNS} FROM {duckdb_engine.table('orders')}"
    answers = until_refused(lambda _: rated.query(alice, sql))
    assert len(answers) > USER_RATE, "the user was refused within its rate"
    assert_rate_limited(answers[-1])
    assert rows_of(rated.query(bob, sql)) == duckdb_engine.all_orders("tenant_id = 1")


def test_with_redis_away_the_rate_is_counted_by_the_replica_and_nothing_answers_500(
    servers: Servers, duckdb_engine: Engine
) -> None:
    redis = ThrowAwayRedis()
    try:
        # Revocation failing open lets requests reach the limits while Redis is away.
        gw = servers.start(
            DataGateway,
            redis_url=redis.url,
            GATEWAY_TENANT_DATA_RATE=str(TENANT_RATE),
            GATEWAY_REVOCATION_FAIL_OPEN="1",
        )
        tenant = gw.onboard_demo(duckdb_engine, 1)
        token = gw.guest(tenant)
        chart = {"chart_id": tenant.chart(ALL)}
        assert rows_of(gw.chart_data(token, chart)) == duckdb_engine.all_orders("tenant_id = 1")
        redis.stop()
        answers = until_refused(lambda _: gw.chart_data(token, chart))
        # Counted by this replica alone, the limit still holds; every answer before the refusal was a 200.
        assert len(answers) > TENANT_RATE, [answer.text for answer in answers]
        assert_rate_limited(answers[-1])
    finally:
        redis.stop()


# ------------------------------------------------------------------------------- warehouse slots


@pytest.fixture(scope="module")
def replicas(servers: Servers) -> tuple[DataGateway, DataGateway]:
    """Two replicas sharing one registry and one Redis prefix, two query slots per tenant."""
    first = servers.start(DataGateway, **SLOT_SETTINGS)
    second = servers.start(
        DataGateway, database_url=first.database_url, prefix=first.redis_prefix, **SLOT_SETTINGS
    )
    return first, second


SLOT_SETTINGS = {
    "GATEWAY_TENANT_QUERY_CONCURRENCY": str(QUERY_SLOTS),
    "GATEWAY_QUERY_SLOT_LEASE_SECONDS": str(LEASE_SECONDS),
}


@dataclass
class SlowTenant:
    """Tenant 1 on PostgreSQL whose `orders` is a copy of its own that the test can lock."""

    tenant: DataTenant
    token: str
    orders: str
    engine: Engine

    def blocked_sql(self) -> tuple[str, str]:
        """A query of `orders` no other request shares (so no cached answer), and its marker."""
        marker = str(secrets.randbelow(10**9) + 10**9)
        return f"SELECT {COLUMNS} FROM {self.orders} WHERE order_id <> {marker}", marker

    def probe_sql(self) -> str:
        """A quick query, of a table left unlocked, no other request shares."""
        customers = self.engine.table("customers")
        return f"SELECT count(*) AS n FROM {customers} WHERE customer_id <> {secrets.randbelow(10**9)}"

    def expected(self) -> list[list[object]]:
        return self.engine.all_orders("tenant_id = 1")


@pytest.fixture
def slow(replicas: tuple[DataGateway, DataGateway], postgres_engine: Engine) -> SlowTenant:
    orders = postgres_engine.copy_orders()
    tenant = replicas[0].onboard_demo(postgres_engine, 1, tables={"orders": orders})
    token = replicas[0].guest(tenant, datasets=["orders", "customers"])
    return SlowTenant(tenant, token, orders, postgres_engine)


@contextmanager
def locked(engine: Engine, table: str) -> Iterator[None]:
    """`table` locked exclusively: every read of it waits until the block ends."""
    with psycopg.connect(engine.url) as conn:
        conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
        conn.rollback()


def wait_until_waiting(engine: Engine, *markers: str) -> None:
    """Until a query carrying each marker waits on a lock in the warehouse (it holds a slot)."""
    deadline = time.monotonic() + 15
    while True:
        with psycopg.connect(engine.url, autocommit=True) as conn:
            queries = [
                str(row[0])
                for row in conn.execute(
                    "SELECT query FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                ).fetchall()
            ]
        if all(any(marker in query for query in queries) for marker in markers):
            return
        assert time.monotonic() < deadline, f"not all of {markers} reached the warehouse: {queries}"
        time.sleep(0.05)


def post_query(gw: DataGateway, token: str, sql: str) -> httpx.Response:
    """A query on a connection of its own, for a thread of the test."""
    with httpx.Client(base_url=gw.url, timeout=60) as client:
        return client.post(QUERY, json={"sql": sql}, headers=guest_headers(token, "bearer"))


@pytest.fixture
def in_background() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=4) as pool:
        yield pool


def blocked(
    pool: ThreadPoolExecutor, gw: DataGateway, slow: SlowTenant
) -> tuple[Future[httpx.Response], str]:
    sql, marker = slow.blocked_sql()
    return pool.submit(post_query, gw, slow.token, sql), marker


def test_a_tenant_over_its_query_slots_is_refused_while_cached_answers_and_other_tenants_are_not(
    replicas: tuple[DataGateway, DataGateway],
    slow: SlowTenant,
    postgres_engine: Engine,
    in_background: ThreadPoolExecutor,
) -> None:
    gw = replicas[0]
    other = gw.onboard_demo(postgres_engine, 2)
    other_token = gw.guest(other, datasets=["orders"])
    other_orders = postgres_engine.all_orders("tenant_id = 2")
    other_chart = {"chart_id": other.chart(ALL)}
    cached_sql = f"SELECT {COLUMNS} FROM {slow.orders}"
    assert data_of(gw.query(slow.token, cached_sql))["cached"] is False
    assert rows_of(gw.chart_data(other_token, other_chart)) == other_orders

    with locked(postgres_engine, slow.orders):
        running = [blocked(in_background, gw, slow) for _ in range(QUERY_SLOTS)]
        wait_until_waiting(postgres_engine, *(marker for _, marker in running))
        assert_rate_limited(gw.query(slow.token, slow.blocked_sql()[0], timeout=10))
        # A cached answer takes no slot, even of the tenant whose slots are all taken.
        cached = gw.query(slow.token, cached_sql, timeout=10)
        assert data_of(cached)["cached"] is True and rows_of(cached) == slow.expected()
        # Another tenant on the same warehouse: cached, forced past the cache, and ad-hoc SQL.
        hot = gw.chart_data(other_token, other_chart, timeout=10)
        assert data_of(hot)["cached"] is True and rows_of(hot) == other_orders
        forced = gw.chart_data(other_token, {**other_chart, "force": True}, timeout=10)
        assert data_of(forced)["cached"] is False and rows_of(forced) == other_orders
        sql = f"SELECT {COLUMNS} FROM {postgres_engine.table('orders')} WHERE order_id > 0"
        assert rows_of(gw.query(other_token, sql, timeout=10)) == other_orders
    for future, _ in running:
        assert rows_of(future.result(timeout=30)) == slow.expected()
    # The slots came back.
    assert data_of(gw.query(slow.token, slow.probe_sql()))["rowcount"] == 1


def test_without_redis_the_query_slots_are_counted_in_process(
    servers: Servers, postgres_engine: Engine, in_background: ThreadPoolExecutor
) -> None:
    gw = servers.start(DataGateway, redis_url=None, **SLOT_SETTINGS)
    orders = postgres_engine.copy_orders()
    tenant = gw.onboard_demo(postgres_engine, 1, tables={"orders": orders})
    slow = SlowTenant(tenant, gw.guest(tenant, datasets=["orders", "customers"]), orders, postgres_engine)
    with locked(postgres_engine, orders):
        running = [blocked(in_background, gw, slow) for _ in range(QUERY_SLOTS)]
        wait_until_waiting(postgres_engine, *(marker for _, marker in running))
        assert_rate_limited(gw.query(slow.token, slow.probe_sql(), timeout=10))
    for future, _ in running:
        assert rows_of(future.result(timeout=30)) == slow.expected()
    assert data_of(gw.query(slow.token, slow.probe_sql()))["rowcount"] == 1


def test_the_query_slots_are_shared_by_every_replica(
    replicas: tuple[DataGateway, DataGateway], slow: SlowTenant, in_background: ThreadPoolExecutor
) -> None:
    first, second = replicas
    with locked(slow.engine, slow.orders):
        running = [blocked(in_background, gw, slow) for gw in replicas]
        wait_until_waiting(slow.engine, *(marker for _, marker in running))
        assert_rate_limited(first.query(slow.token, slow.probe_sql(), timeout=10))
        assert_rate_limited(second.query(slow.token, slow.probe_sql(), timeout=10))
    for future, _ in running:
        assert rows_of(future.result(timeout=30)) == slow.expected()
    assert data_of(second.query(slow.token, slow.probe_sql()))["rowcount"] == 1


def test_a_killed_replicas_slot_frees_when_its_lease_expires(
    servers: Servers,
    replicas: tuple[DataGateway, DataGateway],
    slow: SlowTenant,
    in_background: ThreadPoolExecutor,
) -> None:
    first, second = replicas
    doomed = servers.start(
        DataGateway, database_url=first.database_url, prefix=first.redis_prefix, **SLOT_SETTINGS
    )
    with locked(slow.engine, slow.orders):
        lost, lost_marker = blocked(in_background, doomed, slow)
        kept, kept_marker = blocked(in_background, first, slow)
        wait_until_waiting(slow.engine, lost_marker, kept_marker)
        kept_since = time.monotonic()
        assert doomed.process.process is not None
        doomed.process.process.kill()
        doomed.process.process.wait()
        killed_at = time.monotonic()
        with pytest.raises(httpx.TransportError):
            lost.result(timeout=30)
        # The dead replica's slot is still counted until its lease expires...
        assert_rate_limited(second.query(slow.token, slow.probe_sql(), timeout=10))
        assert time.monotonic() - killed_at < LEASE_SECONDS * 2 / 3, "too slow to see the lease held"
        deadline = killed_at + LEASE_SECONDS + 10
        while (probe := second.query(slow.token, slow.probe_sql(), timeout=10)).status_code == 429:
            assert time.monotonic() < deadline, "the dead replica's slot was never released"
            time.sleep(0.2)
        assert data_of(probe)["rowcount"] == 1
        # ...while the live replica's lease, renewed, outlasts it: with one more, both slots are taken.
        time.sleep(max(0.0, kept_since + LEASE_SECONDS + 1 - time.monotonic()))
        again, again_marker = blocked(in_background, second, slow)
        wait_until_waiting(slow.engine, again_marker)
        assert not kept.done()
        assert_rate_limited(second.query(slow.token, slow.probe_sql(), timeout=10))
    for future in (kept, again):
        assert rows_of(future.result(timeout=30)) == slow.expected()
