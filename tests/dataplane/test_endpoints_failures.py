"""Failures of the data-plane endpoints end to end (issue 5 acceptance): refused tokens, Redis down,
warehouse timeouts, warehouses down or refusing a query. Each answer carries no rows, and warehouse
errors carry neither SQL nor a password.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterator

import httpx
import psycopg
import pytest

from tests.dataplane.conftest import (
    ALL_ORDERS_COLUMNS,
    DataGateway,
    DataTenant,
    Engine,
    data_of,
    refused,
    rows_of,
)
from tests.support.guests import TOKEN_REFUSAL_CODES, Servers, claims_of, with_payload
from tests.support.services import ThrowAwayRedis, free_port

Pairs = Callable[[Engine], tuple[DataTenant, DataTenant]]
ALL = "All orders"
COLUMNS = ", ".join(ALL_ORDERS_COLUMNS)


def no_leak(response: httpx.Response, *hidden: str) -> None:
    """The answer quotes no SQL and none of `hidden` (passwords, table names, predicates)."""
    text = response.text
    assert not re.search(r"\bselect\b", text, re.IGNORECASE), f"SQL in the answer: {text}"
    for secret in hidden:
        assert secret not in text, f"{secret!r} in the answer: {text}"


# ------------------------------------------------------------------------------------ guest tokens


def test_refused_tokens_get_no_rows(gw: DataGateway, pairs: Pairs, duckdb_engine: Engine) -> None:
    acme, _ = pairs(duckdb_engine)
    narrow = gw.guest(acme, rls=[{"dataset": "orders", "clause": "region = 'Europe'"}], datasets=["orders"])
    chart = {"chart_id": acme.chart(ALL)}
    sql = f"SELECT {COLUMNS} FROM {duckdb_engine.table('orders')}"
    # The token's own answer is fine and cached; the refusals below must not be served from that cache.
    assert rows_of(gw.chart_data(narrow, chart)) == duckdb_engine.all_orders(
        "tenant_id = 1 AND region = 'Europe'"
    )
    # The rules stripped from a signed token: the signature no longer holds.
    payload = claims_of(narrow)
    widened = with_payload(narrow, {**payload, "rls_rules": []})
    stolen = with_payload(narrow, {**payload, "tid": "0" * 26})
    for token, code in ((None, "missing_token"), ("not-a-jwt", None), (widened, None), (stolen, None)):
        for response in (gw.chart_data(token, chart), gw.query(token, sql)):
            error = refused(response, 401, code)
            assert error["code"] in TOKEN_REFUSAL_CODES, error
    for header in ({"Authorization": "Basic Zm9vOmJhcg=="}, {"X-GuestToken": ""}):
        refused(gw.http.post("/api/v1/chart/data", json=chart, headers=header), 401)


def test_a_suspended_tenant_gets_no_rows(gw: DataGateway, duckdb_engine: Engine) -> None:
    tenant = gw.onboard_demo(duckdb_engine, 2)
    token = gw.guest(tenant, datasets=["orders"])
    chart = {"chart_id": tenant.chart(ALL)}
    assert rows_of(gw.chart_data(token, chart)) == duckdb_engine.all_orders("tenant_id = 2")
    suspended = gw.admin.patch(f"/api/v1/tenants/{tenant.slug}", json={"status": "suspended"})
    assert suspended.status_code == 200, suspended.text
    deadline = time.monotonic() + 5
    while (response := gw.chart_data(token, chart)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused(response, 401, "tenant_suspended")
    sql = f"SELECT {COLUMNS} FROM {duckdb_engine.table('orders')}"
    refused(gw.query(token, sql), 401, "tenant_suspended")


# --------------------------------------------------------------------------------------- Redis down


@pytest.fixture
def throwaway_redis() -> Iterator[ThrowAwayRedis]:
    server = ThrowAwayRedis()
    yield server
    server.stop()


def test_redis_down_answers_503_and_no_rows(
    servers: Servers, throwaway_redis: ThrowAwayRedis, duckdb_engine: Engine
) -> None:
    gw = servers.start(DataGateway, redis_url=throwaway_redis.url)
    tenant = gw.onboard_demo(duckdb_engine, 1)
    token = gw.guest(tenant, datasets=["orders"])
    chart = {"chart_id": tenant.chart(ALL)}
    sql = f"SELECT {COLUMNS} FROM {duckdb_engine.table('orders')}"
    expected = duckdb_engine.all_orders("tenant_id = 1")
    assert rows_of(gw.chart_data(token, chart)) == expected
    assert rows_of(gw.chart_data(token, chart)) == expected  # cached
    assert rows_of(gw.query(token, sql)) == expected

    throwaway_redis.stop()
    deadline = time.monotonic() + 10
    while (response := gw.chart_data(token, chart)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    refused(response, 503, "revocation_unavailable")
    # Every data request keeps failing closed while Redis is away, cached answer or not.
    for response in (
        gw.chart_data(token, chart),
        gw.chart_data(token, {**chart, "force": True}),
        gw.chart_data(token, {"chart_id": tenant.chart("Revenue by region")}),
        gw.query(token, sql),
    ):
        refused(response, 503, "revocation_unavailable")


# --------------------------------------------------------------------------------- warehouse timeout


def active_queries(url: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity"
            " WHERE datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()"
        ).fetchall()
    return [str(row[0]) for row in rows]


def test_postgres_timeout_answers_504_and_cancels(gw: DataGateway, postgres_engine: Engine) -> None:
    view = postgres_engine.table(f"slow_{secrets.token_hex(4)}")
    # A view is a table to the gateway; pg_sleep returns void, so it sleeps in the WHERE clause.
    postgres_engine.run(
        f"CREATE VIEW {view} AS SELECT o.* FROM {postgres_engine.table('orders')} AS o"
        " WHERE pg_sleep(2) IS NOT NULL",
        (),
    )
    tenant = gw.onboard_demo(
        postgres_engine, 1, tables={"orders": view}, settings={"query_timeout_seconds": 1}
    )
    token = gw.guest(tenant, datasets=["orders"])
    attempts: list[Callable[[], httpx.Response]] = [
        lambda: gw.chart_data(token, {"chart_id": tenant.chart("Total revenue")}),
        lambda: gw.chart_data(token, {"chart_id": tenant.chart(ALL), "force": True}),
        lambda: gw.query(token, f"SELECT count(*) FROM {view}"),
    ]
    for attempt in attempts:
        started = time.monotonic()
        response = attempt()
        elapsed = time.monotonic() - started
        refused(response, 504, "warehouse_timeout")
        no_leak(response, view, "pg_sleep")
        assert 0.9 <= elapsed < 8, elapsed
        # Cancelled at the warehouse, not left running there.
        deadline = time.monotonic() + 5
        while (running := active_queries(postgres_engine.url)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not running, running


def test_duckdb_timeout_answers_504(gw: DataGateway, duckdb_engine: Engine) -> None:
    tenant = gw.onboard_demo(duckdb_engine, 2, settings={"query_timeout_seconds": 1})
    token = gw.guest(tenant, datasets=["orders"])
    orders = duckdb_engine.table("orders")
    endless = (
        f"SELECT count(*) AS n FROM {orders} AS a, {orders} AS b, {orders} AS c"
        # Arithmetic no statistics can decide: every one of 2401^3 combinations is looked at.
        " WHERE (a.order_id * 7 + b.order_id * 13 + c.order_id) % 1000003 = 17"
    )
    started = time.monotonic()
    response = gw.query(token, endless)
    refused(response, 504, "warehouse_timeout")
    no_leak(response, orders)
    assert time.monotonic() - started < 8
    # The gateway is free again for the next query.
    assert rows_of(gw.query(token, f"SELECT {COLUMNS} FROM {orders}")) == duckdb_engine.all_orders(
        "tenant_id = 2"
    )


# ------------------------------------------------------------------------------------ warehouse down


def test_warehouse_down_answers_502_without_the_password(
    gw: DataGateway, postgres_engine: Engine, clickhouse_engine: Engine
) -> None:
    for engine, scheme in ((postgres_engine, "postgresql"), (clickhouse_engine, "clickhouse+http")):
        password = "Pw-" + secrets.token_hex(12)
        url = f"{scheme}://reader:{password}@127.0.0.1:{free_port()}/shop"  # nothing listens there
        tenant = gw.onboard_demo(engine, 1, warehouse_url=url, tables={"orders": "shop.orders"})
        token = gw.guest(tenant, datasets=["orders"])
        for response in (
            gw.chart_data(token, {"chart_id": tenant.chart(ALL)}),
            gw.query(token, f"SELECT {COLUMNS} FROM shop.orders"),
        ):
            refused(response, 502, "warehouse_error")
            no_leak(response, password, "shop.orders", "tenant_id")
            assert isinstance(response.json()["error"].get("message"), str)


def test_warehouse_errors_answer_502_without_sql(gw: DataGateway, engine: Engine) -> None:
    password = "Pw-" + secrets.token_hex(12)
    url = engine.url
    if engine.name == "postgres":  # the test server trusts local connections: any password works
        url = url.replace("postgresql://postgres@", f"postgresql://postgres:{password}@")
    tenant = gw.onboard_demo(engine, 1, warehouse_url=url)
    # A dataset declaring a column its table does not have: the warehouse refuses the chart's query.
    gw.create(
        f"/api/v1/tenants/{tenant.slug}/datasets",
        {
            "name": "ghosts",
            "warehouse": "demo",
            "table": engine.table("orders"),
            "columns": [{"name": n, "type": "INTEGER"} for n in ("order_id", "tenant_id", "ghost_column")],
        },
    )
    ghost = gw.create(
        f"/api/v1/tenants/{tenant.slug}/charts",
        {"title": "Ghost", "dataset": "ghosts", "query": {"groupby": ["order_id", "ghost_column"]}},
    )
    token = gw.guest(tenant, resources=[{"type": "chart", "id": ghost["id"]}], datasets=["orders"])
    responses = [
        gw.chart_data(token, {"chart_id": ghost["id"]}),
        gw.query(token, f"SELECT CAST(region AS INTEGER) AS x FROM {engine.table('orders')}"),
    ]
    for response in responses:
        refused(response, 502, "warehouse_error")
        no_leak(response, password, engine.table("orders"), "ghost_column", "tenant_id")
    assert data_of(gw.chart_data(gw.guest(tenant), {"chart_id": tenant.chart(ALL)}))["rowcount"] > 0
