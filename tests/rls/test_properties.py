"""Property: whatever shape a query over the protected tables takes, no accepted query returns a row its
policy hides, and it returns exactly what PostgreSQL row security returns."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.rls.rewrite import FilterMode
from tests.rls.helpers import RowSecurityDatabase, catalog_for, multiset, rewrite_unless_where_mode_refuses

pytestmark = pytest.mark.postgres

TABLES = ("orders", "customers", "products", '"MixedCase"')
JOINS = ("JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN", "CROSS JOIN", ",")
RULE_SET = "or_clauses"


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A random query and, per output column, the table whose ``id`` it projects."""
    tables = draw(st.lists(st.sampled_from(TABLES), min_size=1, max_size=3))
    source = f"{tables[0]} AS t0"
    for index, table in enumerate(tables[1:], start=1):
        join = draw(st.sampled_from(JOINS))
        if join in ("CROSS JOIN", ","):
            source += f"{' ' if join != ',' else ''}{join} {table} AS t{index}"
        else:
            # ON names the table just before: after a comma join, PostgreSQL allows no other.
            previous = f"t{index - 1}"
            condition = draw(
                st.sampled_from([f"t{index}.id = {previous}.id", f"t{index}.id % 3 = {previous}.id % 3"])
            )
            if index > 1 and "," not in source and draw(st.booleans()):
                source = f"({source})"  # a parenthesised join; PostgreSQL has no parenthesised single table
            source += f" {join} {table} AS t{index} ON {condition}"
    columns = ", ".join(f"t{index}.id AS c{index}" for index in range(len(tables)))
    where = draw(st.sampled_from(["", " WHERE t0.id > 2 OR TRUE", " WHERE NOT (t0.id = 1) OR t0.id IS NULL"]))
    query = f"SELECT {columns} FROM {source}{where}"
    shapes = [
        "plain",
        "subquery",
        "cte",
        "cte_named_like_table",
        "union",
        "intersect",
        "exists",
        "in",
        "lateral",
    ]
    shape = draw(st.sampled_from(shapes))
    outer = ", ".join(f"c{index}" for index in range(len(tables)))
    if shape == "subquery":
        query = f"SELECT {outer} FROM ({query}) AS s"
    elif shape == "cte":
        query = f"WITH w AS ({query}) SELECT {outer} FROM w"
    elif shape == "cte_named_like_table":
        query = f"WITH orders AS ({query}) SELECT {outer} FROM orders"
    elif shape == "union":
        query = f"{query} UNION ALL {query}"
    elif shape == "intersect":
        query = f"{query} INTERSECT SELECT {columns} FROM {source}"
    elif shape == "exists":
        query = f"SELECT {outer} FROM ({query}) AS s WHERE EXISTS (SELECT 1 FROM orders o WHERE o.id = s.c0)"
    elif shape == "in":
        query = f"SELECT {outer} FROM ({query}) AS s WHERE s.c0 IN (SELECT customer_id FROM orders)"
    elif shape == "lateral":
        # The LATERAL subquery's orders.id becomes one more output column, checked like the others.
        query = (
            f"SELECT {outer}, l.id AS c{len(tables)} FROM ({query}) AS s "
            "LEFT JOIN LATERAL (SELECT o.id FROM orders o WHERE o.customer_id = s.c0) AS l ON TRUE"
        )
        tables = [*tables, "orders"]
    return query, tables


@settings(max_examples=150, deadline=None, database=None)
@given(query=queries(), mode=st.sampled_from(list(FilterMode)))
def test_no_accepted_query_returns_a_row_outside_the_policy(
    row_security_db: RowSecurityDatabase, query: tuple[str, list[str]], mode: FilterMode
) -> None:
    sql, tables = query
    restricted = row_security_db.restricted[RULE_SET]
    rewritten = rewrite_unless_where_mode_refuses(sql, catalog_for(RULE_SET, "postgres"), mode)
    if rewritten is None:
        return
    rows = row_security_db.owner.execute(rewritten).fetchall()
    for index, table in enumerate(tables):
        visible = {row[0] for row in restricted.execute(f"SELECT id FROM {table}").fetchall()}
        leaked = {row[index] for row in rows if row[index] is not None} - visible
        assert not leaked, (table, leaked, rewritten)
    assert multiset(rows) == multiset(restricted.execute(sql).fetchall())
