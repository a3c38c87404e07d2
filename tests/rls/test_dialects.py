"""The rewriter in the other warehouse dialects: parse, filter, generate; and each engine's own attacks."""

from __future__ import annotations

import pytest
import sqlglot

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.errors import RewriteRefused
from gateway.rls.rewrite import rewrite_sql

DEFAULT_SCHEMAS = {
    "clickhouse": "default",
    "trino": "sales",
    "mysql": "shop",
    "snowflake": "PUBLIC",
    "bigquery": "analytics",
    "duckdb": "main",
    "postgres": "public",
}
QUERY = (
    "WITH big AS (SELECT customer_id, SUM(amount) AS total FROM orders GROUP BY customer_id) "
    "SELECT c.name, b.total FROM customers AS c LEFT JOIN big AS b ON b.customer_id = c.id"
)


def _catalog(dialect: str) -> Catalog:
    schema = DEFAULT_SCHEMAS[dialect]
    return Catalog.build(
        {
            f"{schema}.orders": parse_clause("tenant_id = 1 OR region = 'EU'", dialect=dialect, columns=None),
            f"{schema}.customers": None,
        },
        dialect=dialect,
        default_schema=schema,
    )


@pytest.mark.parametrize("dialect", DEFAULT_SCHEMAS)
def test_reads_are_filtered_and_the_result_parses_in_the_dialect(dialect: str) -> None:
    rewritten = rewrite_sql(QUERY, dialect=dialect, catalog=_catalog(dialect))
    reparsed = sqlglot.parse_one(rewritten, read=dialect)
    derived = [
        node for node in reparsed.find_all(sqlglot.exp.Subquery) if node.alias_or_name.lower() == "orders"
    ]
    assert len(derived) == 1
    assert "tenant_id = 1 OR" in derived[0].sql(dialect)


def test_snowflake_folds_unquoted_names_to_upper_case() -> None:
    assert rewrite_sql("SELECT * FROM Orders", dialect="snowflake", catalog=_catalog("snowflake")) == (
        "SELECT * FROM (SELECT * FROM PUBLIC.ORDERS WHERE ORDERS.tenant_id = 1 OR ORDERS.region = 'EU') "
        "AS ORDERS"
    )


@pytest.mark.parametrize("dialect", ["mysql", "clickhouse"])
def test_case_sensitive_engines_do_not_fold_table_names(dialect: str) -> None:
    with pytest.raises(RewriteRefused) as refusal:
        rewrite_sql("SELECT * FROM Orders", dialect=dialect, catalog=_catalog(dialect))
    assert refusal.value.code == "table_forbidden"


ENGINE_ATTACKS = [
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')", "function_forbidden"),
    ("mysql", "SELECT SLEEP(5)", "function_forbidden"),
    ("mysql", "SELECT BENCHMARK(1000000, MD5('a'))", "function_forbidden"),
    ("mysql", "SELECT @@version", "parameter"),
    ("mysql", "SELECT USER()", "function_forbidden"),
    ("mysql", "SELECT * FROM mysql.user", "table_forbidden"),
    ("mysql", "SELECT * FROM orders LOCK IN SHARE MODE", "locking_clause"),
    ("clickhouse", "SELECT * FROM file('/etc/passwd', 'CSV')", "table_function"),
    ("clickhouse", "SELECT * FROM url('http://x', CSV)", "table_function"),
    ("clickhouse", "SELECT * FROM remote('h', default.orders)", "table_function"),
    ("clickhouse", "SELECT * FROM s3('http://x')", "table_function"),
    ("clickhouse", "SELECT * FROM system.tables", "table_forbidden"),
    ("clickhouse", "SELECT sleep(1)", "function_forbidden"),
    ("snowflake", "SELECT SYSTEM$WHITELIST()", "function_forbidden"),
    ("snowflake", "SELECT CURRENT_ROLE()", "function_forbidden"),
    ("snowflake", "SELECT * FROM TABLE(GENERATOR(ROWCOUNT => 10))", "table_function"),
    ("snowflake", "SELECT * FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY", "table_forbidden"),
    ("snowflake", "SELECT * FROM orders AT(OFFSET => -60)", "table_modifier"),
    ("trino", "SELECT * FROM system.runtime.queries", "table_forbidden"),
    ("trino", "SELECT * FROM TABLE(system.query(query => 'SELECT 1'))", "table_function"),
    ("trino", "SELECT * FROM orders FOR VERSION AS OF 1", "table_modifier"),
    ("bigquery", "SELECT * FROM analytics.INFORMATION_SCHEMA.TABLES", "table_forbidden"),
    ("bigquery", "SELECT SESSION_USER()", "function_forbidden"),
    ("bigquery", "SELECT * FROM orders FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01'", "table_modifier"),
    ("bigquery", "SELECT * FROM `other-project.analytics.orders`", "table_forbidden"),
    ("bigquery", "SELECT * FROM analytics.orders_*", "table_forbidden"),
    ("duckdb", "SELECT * FROM read_csv('/etc/passwd')", "table_function"),
    ("duckdb", "SELECT * FROM 'data.parquet'", "table_forbidden"),
    ("duckdb", "SELECT * FROM duckdb_settings()", "table_function"),
    ("duckdb", "ATTACH 'other.db'", "statement_not_select"),
]


@pytest.mark.parametrize(("dialect", "query", "code"), ENGINE_ATTACKS)
def test_engine_specific_attack_is_refused(dialect: str, query: str, code: str) -> None:
    with pytest.raises(RewriteRefused) as refusal:
        rewrite_sql(query, dialect=dialect, catalog=_catalog(dialect))
    assert refusal.value.code == code
