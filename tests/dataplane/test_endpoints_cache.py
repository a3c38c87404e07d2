"""The result cache end to end, on every warehouse (issue 5 acceptance).

A cache entry is keyed by the rewritten SQL, which carries the user's predicates: identical charts
asked by users with different rules must each get their own rows, even right after another user's
answer was cached. `force` bypasses the cache, shown with data changed under a cached answer.
"""

from __future__ import annotations

import time
from typing import Any

from tests.dataplane.conftest import (
    ALL_ORDERS_COLUMNS,
    DataGateway,
    Engine,
    data_of,
    norm_rows,
    refused,
)
from tests.support.guests import claims_of

ALL = "All orders"
EUROPE = [{"dataset": "orders", "clause": "region = 'Europe'"}]
AMERICA = [{"dataset": "orders", "clause": "region = 'North America'"}]


def answer(response: Any) -> tuple[list[list[Any]], bool]:
    body = data_of(response)
    return norm_rows(body["rows"]), body["cached"]


def test_cache_never_serves_user_a_rows_to_user_b(gw: DataGateway, engine: Engine) -> None:
    acme, globex = gw.onboard_demo(engine, 1), gw.onboard_demo(engine, 2)
    a = gw.guest(acme, rls=EUROPE, username="a")
    b = gw.guest(acme, rls=AMERICA, username="b")
    c = gw.guest(acme, username="c")  # no rule: the whole tenant
    g = gw.guest(globex, rls=EUROPE, username="a")  # the same rules as A, another tenant
    expected = {
        "a": engine.all_orders("tenant_id = 1 AND region = 'Europe'"),
        "b": engine.all_orders("tenant_id = 1 AND region = 'North America'"),
        "c": engine.all_orders("tenant_id = 1"),
        "g": engine.all_orders("tenant_id = 2 AND region = 'Europe'"),
    }
    assert len({repr(rows) for rows in expected.values()}) == 4

    def ask(token: str, tenant: Any, **body: Any) -> tuple[list[list[Any]], bool]:
        return answer(gw.chart_data(token, {"chart_id": tenant.chart(ALL), **body}))

    assert ask(a, acme) == (expected["a"], False)
    assert ask(a, acme) == (expected["a"], True)  # A's answer is now cached
    # Right after: B, C and the other tenant each get their own rows, computed afresh.
    assert ask(b, acme) == (expected["b"], False)
    assert ask(c, acme) == (expected["c"], False)
    assert ask(g, globex) == (expected["g"], False)
    # And their own cached answers afterwards, never each other's.
    for name, token, tenant in (("b", b, acme), ("c", c, acme), ("g", g, globex), ("a", a, acme)):
        assert ask(token, tenant) == (expected[name], True), name

    # User filters are part of the SQL too: a cached answer under one filter is not served for another.
    on = {"filters": [{"column": "status", "op": "==", "value": "shipped"}]}
    off = {"filters": [{"column": "status", "op": "!=", "value": "shipped"}]}
    assert ask(c, acme, **on)[0] == engine.all_orders("tenant_id = 1 AND status = 'shipped'")
    assert ask(c, acme, **off) == (engine.all_orders("tenant_id = 1 AND status <> 'shipped'"), False)

    # Ad-hoc SQL: the same text from two users is two different rewritten queries.
    sql = f"SELECT {', '.join(ALL_ORDERS_COLUMNS)} FROM {engine.table('orders')}"
    qa = gw.guest(acme, rls=EUROPE, username="a", resources=[], datasets=["orders"])
    qb = gw.guest(acme, rls=AMERICA, username="b", resources=[], datasets=["orders"])
    qg = gw.guest(globex, rls=EUROPE, username="a", resources=[], datasets=["orders"])
    assert answer(gw.query(qa, sql))[0] == expected["a"]
    assert answer(gw.query(qa, sql)) == (expected["a"], True)
    assert answer(gw.query(qb, sql)) == (expected["b"], False)
    assert answer(gw.query(qg, sql)) == (expected["g"], False)


def test_force_bypasses_the_cache(gw: DataGateway, engine: Engine) -> None:
    # The gateway holds the DuckDB file read-only, so no writer can open it meanwhile: no new data there.
    table = engine.table("orders") if engine.name == "duckdb" else engine.copy_orders()
    tenant = gw.onboard_demo(engine, 1, tables={"orders": table})
    token = gw.guest(tenant)
    chart = {"chart_id": tenant.chart(ALL)}
    columns = ", ".join(ALL_ORDERS_COLUMNS)

    def direct() -> list[list[Any]]:
        return norm_rows(engine.run(f"SELECT {columns} FROM {table} WHERE tenant_id = 1", ()))

    first = direct()
    assert answer(gw.chart_data(token, chart)) == (first, False)
    assert answer(gw.chart_data(token, chart)) == (first, True)
    assert answer(gw.chart_data(token, {**chart, "force": True})) == (first, False)
    if engine.name == "duckdb":
        return
    # New data under the cached answer: the cache still answers; `force` reads the warehouse.
    engine.run(
        f"INSERT INTO {table} SELECT order_id + 1000000, tenant_id, customer_id, product_id, order_date,"
        f" order_month, region, category, status, quantity, amount FROM {table} WHERE order_id = 1",
        (),
    )
    second = direct()
    assert len(second) == len(first) + 1
    assert answer(gw.chart_data(token, chart)) == (first, True)
    assert answer(gw.chart_data(token, {**chart, "force": True})) == (second, False)


def test_a_zero_ttl_caches_nothing(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(engine, 2, settings={"result_cache_ttl_seconds": 0})
    token = gw.guest(tenant)
    expected = engine.all_orders("tenant_id = 2")
    for _ in range(2):
        assert answer(gw.chart_data(token, {"chart_id": tenant.chart(ALL)})) == (expected, False)


def test_a_cached_answer_is_not_served_to_a_revoked_token(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(engine, 1)
    token = gw.guest(tenant, username="leaver")
    body = {"chart_id": tenant.chart(ALL)}
    expected = engine.all_orders("tenant_id = 1")
    answer(gw.chart_data(token, body))
    assert answer(gw.chart_data(token, body)) == (expected, True)
    response = gw.revoke(tenant, {"jti": claims_of(token)["jti"]})  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    deadline = time.monotonic() + 5
    while (reply := gw.chart_data(token, body)).status_code == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused(reply, 401, "token_revoked")
    refused(gw.chart_data(token, {**body, "force": True}), 401, "token_revoked")


def test_a_filter_change_reaches_cached_answers(gw: DataGateway, engine: Engine) -> None:
    """A registry change alters the rewritten SQL, so an answer cached before it is not served after."""
    tenant = gw.onboard_demo(engine, 1)
    token = gw.guest(tenant)
    body = {"chart_id": tenant.chart(ALL)}
    answer(gw.chart_data(token, body))
    assert answer(gw.chart_data(token, body))[1] is True
    added = gw.admin.post(
        f"/api/v1/tenants/{tenant.slug}/filters",
        json={"name": "Europe", "filter_type": "base", "dataset": "orders", "clause": "region = 'Europe'"},
    )
    assert added.status_code == 201, added.text
    expected = engine.all_orders("tenant_id = 1 AND region = 'Europe'")
    deadline = time.monotonic() + 5
    while (rows := answer(gw.chart_data(token, body))[0]) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rows == expected
