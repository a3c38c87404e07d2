"""The rewriter on DuckDB: the rewritten query over the tables returns what the original returns over views
filtered by the same predicates (DuckDB has no row security of its own)."""

from __future__ import annotations

import pytest

from gateway.rls.rewrite import FilterMode, rewrite_sql
from tests.rls.helpers import FilteredDuckDB, catalog_for, multiset, rewrite_unless_where_mode_refuses
from tests.rls.queries import ACCEPTED
from tests.rls.schema import RULE_SETS

DUCKDB_UNSUPPORTED = frozenset(
    {
        "SELECT * FROM ONLY orders",  # table inheritance is PostgreSQL's
        "SELECT json_agg(id ORDER BY id) FROM orders",  # PostgreSQL's JSON functions
        "SELECT json_build_object('id', id, 'region', region) FROM orders",
        "SELECT every(amount > 10), cardinality(ARRAY[id, customer_id]) FROM orders GROUP BY id, customer_id",
        # DuckDB folds quoted names too, so x and "X" are one alias: DuckDB refuses it, and so do we.
        'SELECT x.id, "X".id FROM orders AS x JOIN customers AS "X" ON "X".id = x.customer_id',
    }
)

# DuckDB's default schema is main; the same queries name it where PostgreSQL's name public.
DUCKDB_QUERIES = [
    query.replace("public.", "main.").replace("PUBLIC.", "MAIN.")
    for query in ACCEPTED
    if query not in DUCKDB_UNSUPPORTED
]


@pytest.mark.parametrize("mode", list(FilterMode))
@pytest.mark.parametrize("rule_set", [rule_set.name for rule_set in RULE_SETS])
@pytest.mark.parametrize("query", DUCKDB_QUERIES)
def test_rewritten_query_returns_what_the_filtered_views_return(
    filtered_duckdb: FilteredDuckDB, rule_set: str, query: str, mode: FilterMode
) -> None:
    connection = filtered_duckdb.connection.cursor()
    schema = filtered_duckdb.view_schemas[rule_set]
    connection.execute(f"SET search_path = '{schema}'")
    over_views = query.replace("main.", f"{schema}.").replace("MAIN.", f"{schema}.")
    expected = multiset(connection.execute(over_views).fetchall())
    connection.execute("SET search_path = 'main'")
    rewritten = rewrite_unless_where_mode_refuses(query, catalog_for(rule_set, "duckdb"), mode)
    if rewritten is not None:
        assert multiset(connection.execute(rewritten).fetchall()) == expected, rewritten


def test_the_reference_views_do_filter(filtered_duckdb: FilteredDuckDB) -> None:
    connection = filtered_duckdb.connection.cursor()
    (everything,) = connection.execute("SELECT count(*) FROM main.orders").fetchone() or (0,)
    (visible,) = connection.execute("SELECT count(*) FROM views_tenant.orders").fetchone() or (0,)
    assert 0 < visible < everything


def test_quoted_names_are_case_insensitive_on_duckdb(filtered_duckdb: FilteredDuckDB) -> None:
    """DuckDB resolves "Orders" to the orders table, so the rewriter must filter it, not refuse or skip it."""
    connection = filtered_duckdb.connection.cursor()
    catalog = catalog_for("tenant", "duckdb")
    rewritten = rewrite_sql('SELECT count(*) FROM "Orders"', dialect="duckdb", catalog=catalog)
    reference = connection.execute("SELECT count(*) FROM views_tenant.orders").fetchall()
    assert connection.execute(rewritten).fetchall() == reference
