"""`POST /api/v1/query` end to end, on every warehouse (issue 5 acceptance).

Ad-hoc SQL may read only the tables of the datasets the token lists, always through the tenant's and
the token's row filters. Every attack is performed: other tables, writes, several statements, system
catalogs, dangerous functions; each is refused with 403 and no rows, and the warehouse is checked to be
unchanged afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.dataplane.conftest import (
    ALL_ORDERS_COLUMNS,
    TABLES,
    DataGateway,
    DataTenant,
    Engine,
    data_of,
    norm_rows,
    refused,
    rows_of,
)

Pairs = Callable[[Engine], tuple[DataTenant, DataTenant]]
COLUMNS = ", ".join(ALL_ORDERS_COLUMNS)


def sql_for(engine: Engine, template: str) -> str:
    return template.format(**{t: engine.table(t) for t in TABLES}, schema=engine.schema)


def test_adhoc_sql_reads_only_the_users_rows(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    for tenant in pairs(engine):
        token = gw.guest(tenant, datasets=["orders"])
        expected = engine.all_orders("tenant_id = ?", tenant.tenant_id)
        response = gw.query(token, sql_for(engine, f"SELECT {COLUMNS} FROM {{orders}}"))
        body = data_of(response)
        assert [c["name"] for c in body["columns"]] == list(ALL_ORDERS_COLUMNS)
        assert norm_rows(body["rows"]) == expected
        # Attempts to reach around the filter: every read of the table is filtered, in every scope.
        detours = [
            f"SELECT {COLUMNS} FROM {{orders}} WHERE tenant_id <> {tenant.tenant_id} OR 1 = 1",
            f"SELECT {COLUMNS} FROM (SELECT * FROM {{orders}}) AS orders",
            f"SELECT {COLUMNS} FROM {{orders}} WHERE order_id IN (SELECT order_id FROM {{orders}})",
            f"SELECT {COLUMNS} FROM {{orders}} WHERE 1 = 0 UNION ALL SELECT {COLUMNS} FROM {{orders}}",
        ]
        if engine.name != "clickhouse":  # ClickHouse 18 has no CTEs
            detours.append(f"WITH o AS (SELECT * FROM {{orders}}) SELECT {COLUMNS} FROM o")
        for sql in detours:
            assert rows_of(gw.query(token, sql_for(engine, sql))) == expected, sql
        counted = rows_of(
            gw.query(token, sql_for(engine, "SELECT count(*) FROM {orders} WHERE tenant_id <> 0"))
        )
        assert counted == [[float(len(expected))]]
        # The token's rules apply to ad-hoc SQL as to charts.
        ruled = gw.guest(
            tenant, datasets=["orders"], rls=[{"dataset": "orders", "clause": "region = 'Europe'"}]
        )
        rows = rows_of(gw.query(ruled, sql_for(engine, f"SELECT {COLUMNS} FROM {{orders}}")))
        assert rows == engine.all_orders("tenant_id = ? AND region = 'Europe'", tenant.tenant_id)


def test_an_unqualified_table_is_the_dataset_table_and_filtered(
    gw: DataGateway, pairs: Pairs, engine: Engine
) -> None:
    """`orders` names the dataset's table in the warehouse's default schema (main, public, the URL's
    ClickHouse database): readable, and filtered like the qualified name."""
    for tenant in pairs(engine):
        token = gw.guest(tenant, datasets=["orders"])
        rows = rows_of(gw.query(token, f"SELECT {COLUMNS} FROM orders"))
        assert rows == engine.all_orders("tenant_id = ?", tenant.tenant_id)


def test_a_join_of_two_listed_datasets_filters_both(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, _ = pairs(engine)
    token = gw.guest(acme, datasets=["orders", "customers"])
    sql = (
        "SELECT o.order_id, c.customer_id, c.tenant_id FROM {orders} AS o"
        " LEFT JOIN {customers} AS c ON o.customer_id = c.customer_id"
    )
    direct = (
        "SELECT o.order_id, c.customer_id, c.tenant_id"
        " FROM (SELECT * FROM {orders} WHERE tenant_id = 1) AS o"
        " LEFT JOIN (SELECT * FROM {customers} WHERE tenant_id = 1) AS c"
        " ON o.customer_id = c.customer_id"
    )
    rows = rows_of(gw.query(token, sql_for(engine, sql)))
    assert rows == norm_rows(engine.rows(direct))
    assert {row[2] for row in rows} <= {1, None}


def test_dataset_not_in_the_token_is_forbidden(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, globex = pairs(engine)
    orders = sql_for(engine, f"SELECT {COLUMNS} FROM {{orders}}")
    # No dataset resource at all: the endpoint refuses before reading anything.
    for resources in (
        [{"type": "dashboard", "id": acme.dashboard["id"]}],
        [{"type": "chart", "id": acme.chart("All orders")}],
    ):
        token = gw.guest(acme, resources=resources)
        refused(gw.query(token, orders), 403, "resource_forbidden")
    # Another dataset listed: the orders table is not in its catalog.
    token = gw.guest(acme, resources=[], datasets=["customers"])
    for sql in (
        orders,
        f"SELECT {COLUMNS} FROM orders",
        "SELECT c.name FROM {customers} AS c JOIN {orders} AS o ON o.customer_id = c.customer_id",
        "SELECT name FROM {customers} WHERE customer_id IN (SELECT customer_id FROM {orders})",
        "SELECT name FROM {customers} WHERE EXISTS (SELECT 1 FROM {orders} WHERE amount > 0)",
    ):
        refused(gw.query(token, sql_for(engine, sql)), 403, "table_forbidden")
    # The other tenant's token lists `orders` too, yet sees only its own rows.
    foreign = gw.guest(globex, datasets=["orders"])
    assert {row[1] for row in rows_of(gw.query(foreign, orders))} == {2}


FORBIDDEN_TABLES = [
    "SELECT * FROM {customers}",
    "SELECT * FROM {products}",
    "SELECT * FROM {schema}.products AS orders",
    "SELECT o.order_id, p.name FROM {orders} AS o JOIN {products} AS p ON o.product_id = p.product_id",
    "SELECT order_id FROM {orders} WHERE product_id IN (SELECT product_id FROM {products})",
    "SELECT order_id FROM {orders} UNION ALL SELECT customer_id FROM {customers}",
    "WITH x AS (SELECT * FROM {customers}) SELECT * FROM x",
    "SELECT (SELECT max(name) FROM {customers}) AS leaked FROM {orders}",
]


def test_adhoc_sql_reading_a_forbidden_table(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, _ = pairs(engine)
    token = gw.guest(acme, datasets=["orders"])
    for sql in FORBIDDEN_TABLES:
        refused(gw.query(token, sql_for(engine, sql)), 403, "table_forbidden")


WRITES = {
    "common": [
        "DELETE FROM {orders}",
        "DELETE FROM {orders} WHERE tenant_id = 2",
        "UPDATE {orders} SET amount = 0",
        "INSERT INTO {orders} SELECT * FROM {orders}",
        "DROP TABLE {orders}",
        "TRUNCATE TABLE {orders}",
        "ALTER TABLE {orders} ADD COLUMN pwned INTEGER",
        "CREATE TABLE {schema}.stolen AS SELECT * FROM {orders}",
        "CREATE VIEW {schema}.stolen AS SELECT * FROM {orders}",
    ],
    "duckdb": [
        "COPY {orders} TO '/tmp/gw-dataplane-stolen.csv'",
        "ATTACH '/tmp/gw-dataplane-attached.duckdb' AS stolen",
        "SELECT * INTO stolen FROM {orders}",
    ],
    "postgres": [
        "SELECT * INTO {schema}.stolen FROM {orders}",
        "COPY {orders} TO PROGRAM 'touch /tmp/gw-dataplane-pwned'",
        "WITH gone AS (DELETE FROM {orders} RETURNING *) SELECT * FROM gone",
    ],
    "clickhouse": [
        "ALTER TABLE {orders} DELETE WHERE 1 = 1",
        "INSERT INTO FUNCTION file('gw-dataplane-stolen.csv') SELECT * FROM {orders}",
    ],
}
MULTIPLE = [
    "SELECT order_id FROM {orders}; DELETE FROM {orders}",
    "SELECT order_id FROM {orders}; SELECT * FROM {customers}",
    "SELECT 1 FROM {orders}; DROP TABLE {orders}; --",
]


def test_adhoc_sql_writing_is_refused_and_changes_nothing(
    gw: DataGateway, pairs: Pairs, engine: Engine
) -> None:
    acme, _ = pairs(engine)
    token = gw.guest(acme, datasets=["orders", "customers"])
    before = engine.fingerprint()
    tables = sorted(engine.tables())
    for sql in WRITES["common"] + WRITES[engine.name]:
        response = gw.query(token, sql_for(engine, sql))
        error = refused(response, 403)
        if sql.split()[0] in ("DELETE", "UPDATE", "INSERT", "DROP", "TRUNCATE", "ALTER", "CREATE"):
            assert error["code"] == "statement_not_select", (sql, error)
    for sql in MULTIPLE:
        refused(gw.query(token, sql_for(engine, sql)), 403, "multiple_statements")
    assert engine.fingerprint() == before
    assert sorted(engine.tables()) == tables
    # Still readable, still filtered.
    rows = rows_of(gw.query(token, sql_for(engine, f"SELECT {COLUMNS} FROM {{orders}}")))
    assert rows == engine.all_orders("tenant_id = 1")


CATALOGS = {
    "duckdb": [
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM duckdb_tables()",
        "SELECT * FROM duckdb_settings()",
        "SELECT * FROM main.sqlite_master",
        "SELECT database_name, path FROM duckdb_databases()",
    ],
    "postgres": [
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM pg_catalog.pg_tables",
        "SELECT usename, passwd FROM pg_shadow",
        "SELECT * FROM pg_stat_activity",
        "SELECT * FROM pg_settings",
    ],
    "clickhouse": [
        "SELECT * FROM system.tables",
        "SELECT * FROM system.users",
        "SELECT * FROM system.query_log",
        "SELECT * FROM information_schema.tables",
    ],
}
FUNCTIONS = {
    "duckdb": [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM '/etc/passwd'",
        "SELECT * FROM glob('/*')",
        "SELECT current_setting('temp_directory') FROM {orders}",
    ],
    "postgres": [
        "SELECT pg_read_file('/etc/passwd') FROM {orders}",
        "SELECT * FROM pg_ls_dir('.')",
        "SELECT current_setting('data_directory') FROM {orders}",
        "SELECT set_config('statement_timeout', '0', false) FROM {orders}",
        "SELECT pg_terminate_backend(pid) FROM (SELECT 1 AS pid) AS x",
        "SELECT lo_import('/etc/passwd') FROM {orders}",
    ],
    "clickhouse": [
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:1/', 'CSV', 'a String')",
        "SELECT * FROM numbers(10)",
        "SELECT * FROM remote('127.0.0.1', system.users)",
        "SELECT getSetting('max_execution_time') FROM {orders}",
    ],
}
SLEEPS = {
    "duckdb": "SELECT order_id FROM {orders} WHERE sleep_ms(5000) IS NULL",
    "postgres": "SELECT pg_sleep(5) FROM {orders}",
    "clickhouse": "SELECT sleep(3) FROM {orders}",
}


def test_system_catalogs_and_dangerous_functions(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, _ = pairs(engine)
    token = gw.guest(acme, datasets=["orders", "customers"])
    before = engine.fingerprint()
    for sql in CATALOGS[engine.name] + FUNCTIONS[engine.name]:
        refused(gw.query(token, sql_for(engine, sql)), 403)
    # Refused before it ran: nothing slept at the warehouse.
    started = time.monotonic()
    refused(gw.query(token, sql_for(engine, SLEEPS[engine.name])), 403)
    assert time.monotonic() - started < 2.5
    assert engine.fingerprint() == before


def test_row_limit_of_adhoc_sql(gw: DataGateway, engine: Engine) -> None:
    tenant = gw.onboard_demo(engine, 1, settings={"row_limit": 7})
    token = gw.guest(tenant, datasets=["orders"])
    sql = sql_for(engine, f"SELECT {COLUMNS} FROM {{orders}} ORDER BY order_id")
    direct = f"SELECT {COLUMNS} FROM {{orders}} WHERE tenant_id = 1 ORDER BY order_id LIMIT ?"
    for requested, expected in ((None, 7), (100_000, 7), (2, 2)):
        rows = rows_of(gw.query(token, sql, row_limit=requested), ordered=True)
        assert rows == norm_rows(engine.rows(direct, expected), ordered=True), requested


def test_adhoc_sql_answers_with_the_contract_shape(gw: DataGateway, pairs: Pairs, engine: Engine) -> None:
    acme, _ = pairs(engine)
    token = gw.guest(acme, datasets=["orders"])
    body = data_of(
        gw.query(token, sql_for(engine, "SELECT region, count(*) AS n FROM {orders} GROUP BY region"))
    )
    assert [c["name"] for c in body["columns"]] == ["region", "n"]
    direct = engine.rows("SELECT region, count(*) FROM {orders} WHERE tenant_id = 1 GROUP BY region")
    assert norm_rows(body["rows"]) == norm_rows(direct)
    for bad in (
        {"sql": ""},
        {"sql": 42},
        {},
        {"sql": "SELECT 1", "row_limit": "x"},
        {"sql": "SELECT 1", "x": 1},
    ):
        response = gw.http.post("/api/v1/query", json=bad, headers={"Authorization": f"Bearer {token}"})
        refused(response, 422)
