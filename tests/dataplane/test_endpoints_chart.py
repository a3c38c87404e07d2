"""`POST /api/v1/chart/data` end to end, on every warehouse (issue 5 acceptance).

Two tenants onboard the same charts over the same shared tables, each with its base filter
`tenant_id = N`; every answer is compared with a direct query on the warehouse with the predicate
the user must get. Attacks (injected filter values, charts outside the token, foreign charts) are
performed and both the refusal and the absence of forbidden rows are checked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.dataplane.conftest import (
    ALL_ORDERS_COLUMNS,
    INJECTED_ORDER_ID,
    INJECTED_REGION,
    DataGateway,
    DataTenant,
    Engine,
    data_of,
    norm_rows,
    refused,
    rows_of,
)

Pairs = Callable[[Engine], tuple[DataTenant, DataTenant]]
ALL = "All orders"


def all_orders(gw: DataGateway, token: str, tenant: DataTenant, **body: Any) -> list[list[Any]]:
    return rows_of(gw.chart_data(token, {"chart_id": tenant.chart(ALL), **body}))


def test_two_tenants_same_chart_disjoint_rows(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, globex = pairs(engine)
    seen: dict[int, set[Any]] = {}
    for tenant in (acme, globex):
        token = gw.guest(tenant)
        response = gw.chart_data(token, {"chart_id": tenant.chart(ALL)})
        body = data_of(response)
        assert [c["name"] for c in body["columns"]] == list(ALL_ORDERS_COLUMNS)
        rows = norm_rows(body["rows"])
        expected = engine.all_orders("tenant_id = ?", tenant.tenant_id)
        assert len(expected) > 1000
        assert rows == expected
        assert {row[1] for row in rows} == {tenant.tenant_id}
        seen[tenant.tenant_id] = {row[0] for row in rows}

        # The same chart through every accepted way of naming it and carrying the token.
        by_uuid = {"chart_id": tenant.charts[ALL]["uuid"], "dashboard_id": tenant.dashboard["uuid"]}
        assert rows_of(gw.chart_data(token, by_uuid, header="x-guesttoken")) == expected
        by_id = {"chart_id": tenant.chart(ALL), "dashboard_id": tenant.dashboard["id"]}
        assert rows_of(gw.chart_data(token, by_id)) == expected

        # An aggregate chart of the demo: revenue per region of this tenant only.
        revenue = rows_of(gw.chart_data(token, {"chart_id": tenant.chart("Revenue by region")}))
        direct = engine.rows(
            "SELECT region, SUM(amount) FROM {orders} WHERE tenant_id = ? GROUP BY region", tenant.tenant_id
        )
        assert revenue == norm_rows(direct)
    assert seen[1] and seen[2] and not seen[1] & seen[2]


INJECTIONS: list[tuple[dict[str, Any], str, list[Any]]] = [
    # (filter, SQL predicate over the columns, its parameters)
    ({"column": "region", "op": "==", "value": INJECTED_REGION}, "region = ?", [INJECTED_REGION]),
    ({"column": "region", "op": "!=", "value": "x' OR '1'='1"}, "region <> ?", ["x' OR '1'='1"]),
    (
        {"column": "region", "op": "IN", "value": ["Europe", "x') OR tenant_id = 2 --"]},
        "region IN (?, ?)",
        ["Europe", "x') OR tenant_id = 2 --"],
    ),
    (
        {"column": "region", "op": "LIKE", "value": "%' OR tenant_id = 2 OR region LIKE '%"},
        "region LIKE ?",
        ["%' OR tenant_id = 2 OR region LIKE '%"],
    ),
    (
        {"column": "status", "op": "==", "value": "completed'; DELETE FROM orders; --"},
        "status = ?",
        ["completed'; DELETE FROM orders; --"],
    ),
]


@pytest.mark.parametrize("spec", INJECTIONS, ids=[f"{i}:{s[0]['op']}" for i, s in enumerate(INJECTIONS)])
def test_injection_in_a_filter_value_is_a_literal(
    gw: DataGateway, pairs: Pairs, engine: Engine, spec: tuple[dict[str, Any], str, list[Any]]
) -> None:
    user_filter, predicate, params = spec
    before = engine.fingerprint()
    for tenant in pairs(engine):
        token = gw.guest(tenant)
        response = gw.chart_data(token, {"chart_id": tenant.chart(ALL), "filters": [user_filter]})
        rows = rows_of(response)
        expected = engine.all_orders(f"tenant_id = ? AND {predicate}", tenant.tenant_id, *params)
        assert rows == expected
        assert {row[1] for row in rows} <= {tenant.tenant_id}
        if user_filter["value"] == INJECTED_REGION:
            # The literal matches exactly the one row that holds it, for the tenant that owns it.
            ids = [row[0] for row in rows]
            assert ids == ([INJECTED_ORDER_ID] if tenant.tenant_id == 1 else [])
    assert engine.fingerprint() == before


def test_a_column_name_is_never_sql(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, _ = pairs(engine)
    token = gw.guest(acme)
    for column in ("region = region OR 1=1 --", "tenant_id) OR (1=1", "customers.name", "ghost"):
        response = gw.chart_data(
            token, {"chart_id": acme.chart(ALL), "filters": [{"column": column, "op": "==", "value": "x"}]}
        )
        refused(response, 422, "clause_unknown_column")


def test_filter_shapes_are_validated(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, _ = pairs(engine)
    token = gw.guest(acme)
    chart = acme.chart(ALL)
    bad_shapes: list[Any] = [
        [{"column": "region", "op": "OR 1=1 --", "value": "x"}],
        [{"column": "region", "op": "IN", "value": "Europe"}],
        [{"column": "region", "op": "BETWEEN", "value": [1]}],
        [{"column": "region", "op": "IS NULL", "value": "x"}],
        {"column": "region", "op": "==", "value": "x"},
        "region = 'Europe'",
    ]
    for filters in bad_shapes:
        refused(gw.chart_data(token, {"chart_id": chart, "filters": filters}), 422, "invalid_field")
    for body in ({"chart_id": chart, "row_limit": "all"}, {"chart_id": chart, "row_limit": -1}):
        refused(gw.chart_data(token, body), 422, "invalid_field")
    # Every operator of the contract is accepted and means what it says.
    good: list[tuple[dict[str, Any], str, list[Any]]] = [
        ({"column": "amount", "op": ">", "value": 500}, "amount > ?", [500]),
        ({"column": "amount", "op": ">=", "value": 500}, "amount >= ?", [500]),
        ({"column": "amount", "op": "<", "value": 50}, "amount < ?", [50]),
        ({"column": "amount", "op": "<=", "value": 50}, "amount <= ?", [50]),
        ({"column": "region", "op": "NOT IN", "value": ["Europe"]}, "region NOT IN (?)", ["Europe"]),
        (
            {"column": "order_id", "op": "BETWEEN", "value": [100, 200]},
            "order_id BETWEEN ? AND ?",
            [100, 200],
        ),
        ({"column": "region", "op": "IS NOT NULL"}, "region IS NOT NULL", []),
        ({"column": "region", "op": "IS NULL"}, "region IS NULL", []),
    ]
    for user_filter, predicate, params in good:
        response = gw.chart_data(token, {"chart_id": chart, "filters": [user_filter]})
        assert rows_of(response) == engine.all_orders(f"tenant_id = 1 AND {predicate}", *params), user_filter


def test_unknown_or_missing_keys_are_refused(gw: DataGateway, pairs: Pairs, duckdb_engine: Engine) -> None:
    """A body of a bad shape is 422 with the codes the whole API uses: `unknown_field` for a key that
    has no meaning (it could smuggle SQL), `missing_field` for one that is required."""
    acme, _ = pairs(duckdb_engine)
    token = gw.guest(acme)
    chart = acme.chart(ALL)
    for body, code in (
        (
            {"chart_id": chart, "filters": [{"column": "region", "op": "==", "value": "x", "sql": "1=1"}]},
            "unknown_field",
        ),
        ({"chart_id": chart, "sql": "SELECT 1"}, "unknown_field"),
        ({"chart_id": chart, "filters": [{"op": "==", "value": "x"}]}, "missing_field"),
        ({}, "missing_field"),
    ):
        refused(gw.chart_data(token, body), 422, code)


def test_token_rules_narrow_further(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, globex = pairs(engine)
    cases: list[tuple[list[dict[str, Any]], str, list[Any]]] = [
        ([{"dataset": "orders", "clause": "region = 'Europe'"}], "region = 'Europe'", []),
        (
            [
                {"dataset": "orders", "clause": "region = 'Europe'"},
                {"dataset": "orders", "column": "status", "op": "IN", "value": ["shipped", "returned"]},
            ],
            "region = 'Europe' AND status IN ('shipped', 'returned')",
            [],
        ),
        ([{"dataset": "*", "column": "tenant_id", "op": "IN", "value": [1, 2]}], "tenant_id IN (1, 2)", []),
        # A rule cannot widen what the tenant's base filter allows: AND-ed, so nothing.
        ([{"dataset": "orders", "clause": "tenant_id = 2 OR tenant_id = 1"}], "1 = 1", []),
        ([{"dataset": "orders", "clause": "tenant_id <> 1"}], "tenant_id <> 1", []),
    ]
    for tenant in (acme, globex):
        for rules, predicate, params in cases:
            token = gw.guest(tenant, rls=rules, username=f"ruled-{tenant.tenant_id}")
            rows = all_orders(gw, token, tenant)
            expected = engine.all_orders(f"tenant_id = ? AND ({predicate})", tenant.tenant_id, *params)
            assert rows == expected, rules
            assert {row[1] for row in rows} <= {tenant.tenant_id}


def test_group_key_overrides_a_base_filter_of_the_same_group(gw: DataGateway, engine: Engine) -> None:
    # Base: tenant isolation (no group) and "Europe only" in group `region`; Regular for role `latam`
    # in group `region`. A Regular filter of the user in group `region` replaces the Europe base.
    tenant = gw.onboard_demo(
        engine,
        1,
        extra_filters=[
            {
                "name": "Europe only",
                "filter_type": "base",
                "dataset": "orders",
                "clause": "region = 'Europe'",
                "group_key": "region",
            },
            {
                "name": "Latin America desk",
                "filter_type": "regular",
                "dataset": "orders",
                "clause": "region = 'Latin America'",
                "group_key": "region",
                "roles": ["latam"],
            },
        ],
    )
    apac = {"dataset": "orders", "clause": "region = 'Asia Pacific'", "group_key": "region"}
    americas = {"dataset": "orders", "clause": "region = 'North America'", "group_key": "region"}
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "region = 'Europe'"),
        ({"rls": [apac]}, "region = 'Asia Pacific'"),
        ({"rls": [apac, americas]}, "region IN ('Asia Pacific', 'North America')"),
        ({"roles": ["latam"]}, "region = 'Latin America'"),
        ({"roles": ["latam"], "rls": [apac]}, "region IN ('Latin America', 'Asia Pacific')"),
        ({"roles": ["other"]}, "region = 'Europe'"),
        # Another group does not lift the base filter: both apply.
        (
            {"rls": [{"dataset": "orders", "clause": "region = 'Asia Pacific'", "group_key": "zone"}]},
            "region = 'Europe' AND region = 'Asia Pacific'",
        ),
        # The ungrouped tenant isolation is never lifted, whatever the token's group.
        ({"rls": [{"dataset": "orders", "clause": "tenant_id = 2", "group_key": "region"}]}, "tenant_id = 2"),
    ]
    for i, (token_args, predicate) in enumerate(cases):
        token = gw.guest(tenant, username=f"user{i}", **token_args)
        rows = all_orders(gw, token, tenant)
        assert rows == engine.all_orders(f"tenant_id = 1 AND ({predicate})"), token_args
        assert {row[1] for row in rows} <= {1}
    assert engine.all_orders("tenant_id = 1 AND region = 'Latin America'")  # the cases are not all empty


def test_templates_bind_the_users_attributes_as_literals(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(
        engine,
        1,
        extra_filters=[
            {
                "name": "Own region",
                "filter_type": "base",
                "dataset": "orders",
                "clause": "region = {{ user.attributes.region }}",
            }
        ],
    )
    for region in ("Europe", INJECTED_REGION, "x' OR '1'='1"):
        token = gw.guest(tenant, attributes={"region": region}, username="templated")
        rows = all_orders(gw, token, tenant)
        assert rows == engine.all_orders("tenant_id = 1 AND region = ?", region), region
    assert [row[0] for row in rows_of_region(gw, tenant, INJECTED_REGION)] == [INJECTED_ORDER_ID]
    # No attribute to bind: the filter cannot be resolved, so nothing is served (never "no filter").
    for attributes in ({}, {"other": "Europe"}):
        token = gw.guest(tenant, attributes=attributes, username="unbound")
        refused(gw.chart_data(token, {"chart_id": tenant.chart(ALL)}), 403)


def rows_of_region(gw: DataGateway, tenant: DataTenant, region: str) -> list[list[Any]]:
    return all_orders(gw, gw.guest(tenant, attributes={"region": region}), tenant)


def test_charts_outside_the_token_are_forbidden(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, globex = pairs(engine)
    token = gw.guest(acme)
    hidden = acme.chart("Hidden")
    attempts: list[dict[str, Any]] = [
        {"chart_id": hidden},  # a chart of the tenant on no dashboard of the token
        {"chart_id": acme.charts["Hidden"]["uuid"]},
        {"chart_id": hidden, "dashboard_id": acme.dashboard["id"]},  # not on this dashboard
        {"chart_id": hidden, "dashboard_id": acme.other_dashboard["id"]},  # dashboard not in the token
        {"chart_id": acme.chart(ALL), "dashboard_id": acme.other_dashboard["id"]},
        {"chart_id": globex.chart(ALL)},  # another tenant's chart
        {"chart_id": globex.charts[ALL]["uuid"], "dashboard_id": globex.dashboard["id"]},
        {"chart_id": globex.chart(ALL), "dashboard_id": acme.dashboard["id"]},
        {"chart_id": 987_654_321},  # unknown
        {"chart_id": "00000000-0000-4000-8000-000000000000"},
    ]
    answers = set()
    for body in attempts:
        error = refused(gw.chart_data(token, body), 403, "resource_forbidden")
        # The same answer whatever the cause, but for the echo of the id the caller sent.
        answers.add(str(error.get("message")).replace(str(body["chart_id"]), "<chart>"))
    assert len(answers) == 1, f"refusals tell the causes apart: {answers}"

    # Both dashboards listed: a chart of the first still cannot be read "through" the second.
    both = gw.guest(
        acme,
        resources=[
            {"type": "dashboard", "id": acme.dashboard["id"]},
            {"type": "dashboard", "id": acme.other_dashboard["id"]},
        ],
    )
    refused(
        gw.chart_data(both, {"chart_id": acme.chart(ALL), "dashboard_id": acme.other_dashboard["id"]}),
        403,
        "resource_forbidden",
    )
    assert data_of(gw.chart_data(both, {"chart_id": hidden, "dashboard_id": acme.other_dashboard["id"]}))

    # A chart resource allows that chart alone; a dataset resource allows no chart.
    chart_only = gw.guest(acme, resources=[{"type": "chart", "id": acme.chart(ALL)}])
    assert all_orders(gw, chart_only, acme) == engine.all_orders("tenant_id = 1")
    for other in ("Revenue by region", "Hidden"):
        refused(gw.chart_data(chart_only, {"chart_id": acme.chart(other)}), 403, "resource_forbidden")
    dataset_only = gw.guest(acme, resources=[{"type": "dataset", "id": "orders"}])
    refused(gw.chart_data(dataset_only, {"chart_id": acme.chart(ALL)}), 403, "resource_forbidden")


def test_a_dashboard_id_must_be_listed_even_for_a_chart_resource(
    gw: DataGateway, pairs: Pairs, duckdb_engine: Engine
) -> None:
    """The contract: when `dashboard_id` is given, that dashboard must be listed AND contain the chart."""
    acme, _ = pairs(duckdb_engine)
    chart_only = gw.guest(acme, resources=[{"type": "chart", "id": acme.chart(ALL)}])
    body = {"chart_id": acme.chart(ALL), "dashboard_id": acme.dashboard["id"]}
    refused(gw.chart_data(chart_only, body), 403, "resource_forbidden")


def test_row_limit_is_capped_by_the_tenant(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(engine, 2, settings={"row_limit": 5})
    token = gw.guest(tenant)
    chart = tenant.chart("Recent orders")  # 20 rows by its own spec
    columns = "order_id, order_date, region, category, status, quantity, amount"

    def newest(n: int) -> list[list[Any]]:
        sql = (
            f"SELECT {columns} FROM {{orders}} WHERE tenant_id = 2"
            f" ORDER BY order_date DESC, order_id DESC LIMIT {n}"
        )
        return norm_rows(engine.rows(sql), ordered=True)

    for requested, expected in ((None, 5), (1000, 5), (3, 3)):
        body: dict[str, Any] = {"chart_id": chart}
        if requested is not None:
            body["row_limit"] = requested
        assert rows_of(gw.chart_data(token, body), ordered=True) == newest(expected), requested
    rows = rows_of(gw.chart_data(token, {"chart_id": tenant.chart(ALL), "row_limit": 100_000}))
    assert len(rows) == 5 and {row[1] for row in rows} == {2}
