"""What a query may cost the rewriter: the shapes a hostile guest sends are refused before any pass runs
with a code naming the bound, and the same shapes at a size real queries have still rewrite."""

from __future__ import annotations

import pytest

from gateway.rls.bounds import DEFAULT_BOUNDS, QueryBounds, check_tree
from gateway.rls.errors import QueryTooCostly
from gateway.rls.rewrite import RewriteCache, parse_query, rewrite_sql
from tests.rls.helpers import orders_catalog, refusal_code


def sum_of(terms: int) -> str:
    return "SELECT " + "+".join(["id"] * terms) + " FROM orders"


def or_chain(terms: int) -> str:
    return "SELECT id FROM orders WHERE " + " OR ".join(f"amount = {i}" for i in range(terms))


def nested_in(subqueries: int) -> str:
    conditions = " AND ".join(f"id IN (SELECT id FROM orders WHERE amount > {i})" for i in range(subqueries))
    return f"SELECT id FROM orders WHERE {conditions}"


def nested_calls(depth: int) -> str:
    return "SELECT " + "abs(" * depth + "amount" + ")" * depth + " FROM orders"


def test_text_over_the_length_bound_is_refused_before_parsing() -> None:
    sql = "SELECT id FROM orders WHERE " + " OR ".join(["amount = 1"] * 10_000)  # 140 KB
    assert len(sql) > DEFAULT_BOUNDS.max_chars
    assert refusal_code(sql) == "query_too_long"


def test_a_tree_over_the_node_bound_is_refused() -> None:
    sql = sum_of(6_000)  # 12,001 nodes in 18 KB: under the length bound
    assert len(sql) < DEFAULT_BOUNDS.max_chars
    assert refusal_code(sql) == "query_too_large"


def test_nesting_over_the_depth_bound_is_refused() -> None:
    assert refusal_code(nested_calls(DEFAULT_BOUNDS.max_depth)) == "query_too_deep"


def test_subqueries_over_the_select_bound_are_refused() -> None:
    assert refusal_code(nested_in(DEFAULT_BOUNDS.max_selects)) == "too_many_selects"


@pytest.mark.parametrize(
    "sql",
    [sum_of(3_000), or_chain(1_500), nested_in(50), nested_calls(50)],
    ids=["sum-of-3000-columns", "or-of-1500-terms", "50-subqueries", "50-nested-calls"],
)
def test_large_queries_within_the_bounds_are_filtered(sql: str) -> None:
    rewritten = rewrite_sql(sql, dialect="postgres", catalog=orders_catalog("postgres"))
    filtered_reads = rewritten.count("(SELECT * FROM public.orders WHERE orders.tenant_id = 1) AS orders")
    assert filtered_reads == rewritten.count("public.orders") >= 1


def test_a_run_of_one_operator_counts_as_one_level() -> None:
    chain = parse_query(or_chain(500), dialect="postgres")
    check_tree(chain, QueryBounds(max_depth=10))  # 500 ORs deep as a tree, one level as written
    with pytest.raises(QueryTooCostly) as refusal:
        check_tree(parse_query(nested_calls(10), dialect="postgres"), QueryBounds(max_depth=10))
    assert refusal.value.code == "query_too_deep"


def test_a_cached_refusal_keeps_its_kind() -> None:
    cache = RewriteCache()
    for _ in range(2):  # the second answer comes from the cache
        with pytest.raises(QueryTooCostly):
            cache.rewrite_sql(nested_calls(300), dialect="postgres", catalog=orders_catalog("postgres"))
    assert len(cache) == 1


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT repeat('x', 16000000) AS big FROM orders LIMIT 6",
        "SELECT lpad(region, 16000000, 'x') FROM orders",
        "SELECT space(20000000)",
        "SELECT repeat(region, 3) FROM orders",  # a column's text: its length is not known
        "SELECT repeat('x', amount) FROM orders",
        "SELECT repeat(repeat('x', 100), 100)",
        "SELECT " + " || ".join(["repeat('x', 10000)"] * 11),  # each within the cap, not together
    ],
)
def test_text_made_beyond_what_the_query_shows_is_refused(sql: str) -> None:
    assert refusal_code(sql) == "value_too_large"


def test_formatting_with_literal_lengths_is_kept() -> None:
    sql = "SELECT lpad(CAST(id AS TEXT), 6, '0'), repeat('*', 20), rpad(region, 12) FROM orders"
    assert rewrite_sql(sql, dialect="postgres", catalog=orders_catalog("postgres")) == (
        "SELECT LPAD(CAST(id AS TEXT), 6, '0'), REPEAT('*', 20), RPAD(region, 12) "
        "FROM (SELECT * FROM public.orders WHERE orders.tenant_id = 1) AS orders"
    )
