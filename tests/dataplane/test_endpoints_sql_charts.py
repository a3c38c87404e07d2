"""Charts written as SQL, and the shared cache of resolved filters, through a running gateway.

A SQL chart reads its own dataset's table, filtered like any query: each tenant gets its own rows,
the user's filters apply to the chart's output, and any other table is refused. The resolved
filters a request needed are in Redis under the tenant's registry version, living no longer than
the token that caused them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import redis

from tests.dataplane.conftest import DataGateway, DataTenant, Engine, norm_rows, refused, rows_of
from tests.support.guests import claims_of
from tests.support.services import REDIS_URL

Pairs = Callable[[Engine], tuple[DataTenant, DataTenant]]


def sql_chart(gw: DataGateway, tenant: DataTenant, sql: str, *, dataset: str = "orders") -> int:
    chart = gw.create(
        f"/api/v1/tenants/{tenant.slug}/charts",
        {"title": f"SQL {time.monotonic_ns()}", "dataset": dataset, "sql": sql},
    )
    return int(chart["id"])


def test_sql_chart_serves_each_tenant_its_own_rows(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    for tenant in pairs(engine):
        chart = sql_chart(
            gw, tenant, f"SELECT region, COUNT(*) AS orders FROM {engine.table('orders')} GROUP BY region"
        )
        token = gw.guest(tenant, resources=[{"type": "chart", "id": chart}])
        expected = engine.rows(
            "SELECT region, COUNT(*) FROM {orders} WHERE tenant_id = ? GROUP BY region", tenant.tenant_id
        )
        assert rows_of(gw.chart_data(token, {"chart_id": chart})) == norm_rows(expected)

        europe = {"chart_id": chart, "filters": [{"column": "region", "op": "==", "value": "Europe"}]}
        only_europe = [row for row in norm_rows(expected) if row[0] == "Europe"]
        assert only_europe and rows_of(gw.chart_data(token, europe)) == only_europe


def test_sql_chart_cannot_read_another_table(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, _ = pairs(engine)
    chart = sql_chart(gw, acme, f"SELECT COUNT(*) AS n FROM {engine.table('customers')}")
    token = gw.guest(acme, resources=[{"type": "chart", "id": chart}])
    refused(gw.chart_data(token, {"chart_id": chart}), 403)


def test_sql_chart_over_a_virtual_dataset_is_not_served(
    gw: DataGateway, pairs: Pairs, engine: Engine
) -> None:
    acme, _ = pairs(engine)
    virtual = gw.create(
        f"/api/v1/tenants/{acme.slug}/datasets",
        {
            "name": f"europe_{time.monotonic_ns()}",
            "warehouse": "demo",
            "sql": f"SELECT order_id, tenant_id, region FROM {engine.table('orders')} WHERE amount > 10",
            "columns": [
                {"name": "order_id", "type": "INTEGER"},
                {"name": "tenant_id", "type": "INTEGER"},
                {"name": "region", "type": "VARCHAR"},
            ],
        },
    )
    chart = sql_chart(gw, acme, f"SELECT * FROM {engine.table('orders')}", dataset=virtual["name"])
    token = gw.guest(acme, resources=[{"type": "chart", "id": chart}])
    refused(gw.chart_data(token, {"chart_id": chart}), 422, "chart_not_supported")


def test_resolved_filters_are_shared_in_redis_for_the_token_life(
    gw: DataGateway, pairs: Pairs, engine: Engine
) -> None:
    acme, _ = pairs(engine)
    marker = f"order_id > {time.monotonic_ns() % 100_000}"  # rules no other test has
    rule = f"region = 'Europe' AND {marker}"
    token = gw.guest(acme, rls=[{"dataset": "orders", "clause": rule}])
    rows_of(gw.chart_data(token, {"chart_id": acme.chart("All orders")}))
    tenant_id = gw.admin.get(f"/api/v1/tenants/{acme.slug}").json()["id"]
    prefix = f"{gw.redis_prefix}rls:predicate:"
    shared = redis.Redis.from_url(REDIS_URL)
    try:
        mine = []
        for key in shared.scan_iter(match=f"{prefix}*"):
            tenant, version, _rules, dataset = json.loads(key.decode()[len(prefix) :])
            predicate = json.loads(shared.get(key) or "null")["predicate"]
            if tenant == tenant_id and dataset == "orders" and predicate and marker in predicate:
                mine.append((version, predicate, shared.pttl(key)))
    finally:
        shared.close()
    [(version, predicate, ttl_ms)] = mine
    assert "Europe" in predicate and "tenant_id" in predicate  # the token's rule and the base filter
    assert isinstance(version, int) and version >= 1
    assert 0 < ttl_ms <= (claims_of(token)["exp"] - time.time()) * 1000 + 1000
