"""The rewriter against PostgreSQL's own row security, on the same clauses.

For every accepted query: the original run by the restricted role (policies enforced by PostgreSQL) returns
exactly the multiset of rows that the rewritten query returns when run by the owner (no policy applies).
"""

from __future__ import annotations

import psycopg
import pytest

from gateway.rls.errors import RewriteRefused
from gateway.rls.rewrite import FilterMode, rewrite, rewrite_sql
from tests.rls.helpers import RowSecurityDatabase, catalog_for, multiset, rewrite_unless_where_mode_refuses
from tests.rls.queries import ACCEPTED, REFUSED
from tests.rls.schema import RULE_SETS

pytestmark = pytest.mark.postgres

RULE_SET_NAMES = [rule_set.name for rule_set in RULE_SETS]

# Queries where filtering in WHERE/ON could not be exact: the WHERE mode must refuse each of them.
WHERE_MODE_REFUSALS = [
    "SELECT o.id, c.name FROM orders o RIGHT JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id, c.name FROM orders o FULL JOIN customers c ON c.id = o.customer_id",
    "SELECT o.id FROM orders o LEFT JOIN customers c USING (id)",
    "SELECT o.id, p.name FROM (orders o JOIN customers c ON c.id = o.customer_id) "
    "LEFT JOIN products p ON p.id = o.product_id",
    "SELECT o.a FROM orders AS o(a)",
    "SELECT * FROM orders NATURAL LEFT JOIN customers",
]


def _run(connection: psycopg.Connection[tuple[object, ...]], query: str) -> list[tuple[object, ...]]:
    return connection.execute(query).fetchall()


@pytest.mark.parametrize("mode", list(FilterMode))
@pytest.mark.parametrize("rule_set", RULE_SET_NAMES)
@pytest.mark.parametrize("query", ACCEPTED)
def test_rewritten_query_returns_exactly_the_rows_row_security_returns(
    row_security_db: RowSecurityDatabase, rule_set: str, query: str, mode: FilterMode
) -> None:
    """Derived tables must handle every query; the WHERE mode may refuse, with its own reason, instead."""
    expected = multiset(_run(row_security_db.restricted[rule_set], query))
    rewritten = rewrite_unless_where_mode_refuses(query, catalog_for(rule_set, "postgres"), mode)
    if rewritten is not None:
        assert multiset(_run(row_security_db.owner, rewritten)) == expected, rewritten


def test_where_mode_filters_most_queries_without_refusing() -> None:
    catalog = catalog_for("or_clauses", "postgres")
    refused = []
    for query in ACCEPTED:
        try:
            rewrite(query, dialect="postgres", catalog=catalog, mode=FilterMode.WHERE)
        except RewriteRefused:
            refused.append(query)
    assert len(refused) < len(ACCEPTED) // 4, refused


@pytest.mark.parametrize("query", WHERE_MODE_REFUSALS)
def test_where_mode_refuses_what_it_cannot_filter_exactly(query: str) -> None:
    with pytest.raises(RewriteRefused) as refusal:
        rewrite(query, dialect="postgres", catalog=catalog_for("tenant", "postgres"), mode=FilterMode.WHERE)
    assert refusal.value.code.startswith("where_mode_")


def test_a_naive_where_filter_on_a_full_join_would_leak(row_security_db: RowSecurityDatabase) -> None:
    """Why the WHERE mode refuses FULL JOIN: the filter in ON keeps the filtered-out rows, null-extended."""
    query = "SELECT o.id FROM orders o FULL JOIN customers c ON c.id = o.customer_id"
    naive = (
        "SELECT o.id FROM orders o FULL JOIN customers c ON c.id = o.customer_id "
        "AND o.tenant_id = 1 AND c.tenant_id = 1"
    )
    allowed = multiset(_run(row_security_db.restricted["tenant"], query))
    assert multiset(_run(row_security_db.owner, naive)) != allowed
    rewritten = rewrite_sql(query, dialect="postgres", catalog=catalog_for("tenant", "postgres"))
    assert multiset(_run(row_security_db.owner, rewritten)) == allowed


@pytest.mark.parametrize("mode", list(FilterMode))
@pytest.mark.parametrize(("query", "code"), REFUSED.items())
def test_forbidden_query_is_refused_with_its_reason(query: str, code: str, mode: FilterMode) -> None:
    for rule_set in RULE_SET_NAMES:
        with pytest.raises(RewriteRefused) as refusal:
            rewrite(query, dialect="postgres", catalog=catalog_for(rule_set, "postgres"), mode=mode)
        assert refusal.value.code == code
        assert refusal.value.message


def test_the_suite_covers_at_least_150_queries() -> None:
    assert len(ACCEPTED) >= 150
