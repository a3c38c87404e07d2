"""Attacks found by an adversarial review of the rewriter: each must now be refused, while the
legitimate neighbours of each attack keep working."""

from __future__ import annotations

import pytest

from gateway.rls.rewrite import FilterMode, rewrite_sql
from tests.rls.helpers import orders_catalog as catalog
from tests.rls.helpers import refusal_code as refused


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT CAST(CAST(n AS pg_catalog.oid) AS pg_catalog.regclass) FROM (VALUES (1259)) AS v(n)",
        "SELECT CAST(10 AS pg_catalog.regrole)",
        "SELECT CAST('pg_authid' AS pg_catalog.regclass)",
        'SELECT CAST(2615 AS pg_catalog."regnamespace")',
        "SELECT id::pg_catalog.regtype FROM orders",
    ],
)
def test_schema_qualified_catalog_types_are_refused(sql: str) -> None:
    assert refused(sql) == "type_forbidden"


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [
        ("SELECT user", "postgres"),
        ("SELECT current_role FROM orders", "postgres"),
        ("SELECT id FROM orders WHERE session_user = 'postgres'", "postgres"),
        ("SELECT user, current_role, current_schema", "duckdb"),
    ],
)
def test_session_identity_keywords_are_refused(sql: str, dialect: str) -> None:
    assert refused(sql, dialect) == "function_forbidden"


def test_columns_merely_named_like_those_keywords_still_work() -> None:
    sql = rewrite_sql(
        'SELECT "user", o.current_role FROM orders AS o', dialect="postgres", catalog=catalog("postgres")
    )
    assert "tenant_id = 1" in sql


def test_a_later_positional_join_is_refused_in_where_mode() -> None:
    sql = "SELECT o.id, v.n FROM orders AS o POSITIONAL JOIN (VALUES (1), (2)) AS v(n)"
    assert refused(sql, "duckdb", FilterMode.WHERE) == "where_mode_outer_join"
    assert "tenant_id = 1" in rewrite_sql(sql, dialect="duckdb", catalog=catalog("duckdb"))


def test_a_forward_reference_in_with_recursive_is_refused() -> None:
    sql = "WITH RECURSIVE a AS (SELECT * FROM orders), orders AS (SELECT 1 AS x) SELECT * FROM a"
    assert refused(sql) == "recursive_cte_forward_reference"


@pytest.mark.parametrize(
    ("sql", "rewritten"),
    [
        (  # no table read: nothing to filter, and the self-reference is left alone
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n",
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT * FROM n",
        ),
        (  # the CTE shadows `orders`: only its anchor's read of the table is filtered
            "WITH RECURSIVE orders(id) AS (SELECT min(id) FROM public.orders UNION ALL "
            "SELECT id + 1 FROM orders WHERE id < 20) SELECT * FROM orders",
            "WITH RECURSIVE orders(id) AS (SELECT MIN(id) FROM (SELECT * FROM public.orders WHERE "
            "orders.tenant_id = 1) AS orders UNION ALL SELECT id + 1 FROM orders WHERE id < 20) "
            "SELECT * FROM orders",
        ),
        (  # a backward reference to an earlier CTE
            "WITH RECURSIVE a AS (SELECT 1 AS x), b AS (SELECT * FROM a) SELECT * FROM b",
            "WITH RECURSIVE a AS (SELECT 1 AS x), b AS (SELECT * FROM a) SELECT * FROM b",
        ),
    ],
)
def test_backward_and_self_references_in_with_recursive_still_work(sql: str, rewritten: str) -> None:
    assert rewrite_sql(sql, dialect="postgres", catalog=catalog("postgres")) == rewritten


def test_queries_nested_too_deeply_are_refused_not_crashed() -> None:
    assert refused("SELECT " + "(" * 3000 + "1" + ")" * 3000) == "too_complex"
