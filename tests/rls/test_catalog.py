"""Building the catalog of readable tables from names as written in the dialect."""

from __future__ import annotations

import pytest
import sqlglot

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.errors import ClauseError, RewriteRefused
from gateway.rls.rewrite import rewrite_sql


def test_one_table_under_two_spellings_is_refused_rather_than_one_filter_dropped() -> None:
    with pytest.raises(ClauseError) as error:
        Catalog.build(
            {
                "public.orders": parse_clause("tenant_id = 1", dialect="postgres", columns=None),
                "ORDERS": None,
            },
            dialect="postgres",
        )
    assert error.value.code == "table_duplicate"


def test_a_filter_with_an_unbound_template_is_refused() -> None:
    clause = parse_clause("region = {{ user.attributes.region }}", dialect="postgres", columns=None)
    with pytest.raises(ClauseError) as error:
        Catalog.build({"public.orders": clause}, dialect="postgres")
    assert error.value.code == "clause_unbound_template"


def test_a_filter_that_reads_a_table_is_refused_even_when_built_by_hand() -> None:
    hand_made = sqlglot.parse_one("tenant_id IN (SELECT tenant_id FROM secrets)", read="postgres")
    with pytest.raises(ClauseError) as error:
        Catalog.build({"public.orders": hand_made}, dialect="postgres")
    assert error.value.code == "clause_subquery"


@pytest.mark.parametrize(
    "name", ["a.b.c.orders", "orders AS o", "read_csv('x')", "public.orders; DROP", "public.orders extra"]
)
def test_a_name_that_is_not_a_table_name_is_refused(name: str) -> None:
    with pytest.raises(ClauseError) as error:
        Catalog.build({name: None}, dialect="postgres")
    assert error.value.code == "table_name"


def test_without_a_default_schema_names_must_be_qualified() -> None:
    with pytest.raises(ClauseError) as error:
        Catalog.build({"orders": None}, dialect="trino")
    assert error.value.code == "table_name"
    catalog = Catalog.build({"sales.orders": None}, dialect="trino")
    assert rewrite_sql("SELECT * FROM sales.orders", dialect="trino", catalog=catalog) == (
        "SELECT * FROM sales.orders"
    )


def test_the_fingerprint_follows_the_filters() -> None:
    def catalog(clause: str) -> Catalog:
        return Catalog.build(
            {"public.orders": parse_clause(clause, dialect="postgres", columns=None)}, dialect="postgres"
        )

    assert catalog("tenant_id = 1").fingerprint == catalog("tenant_id = 1").fingerprint
    assert catalog("tenant_id = 1").fingerprint != catalog("tenant_id = 2").fingerprint


def test_a_default_catalog_qualifies_names_and_other_catalogs_stay_unreadable() -> None:
    catalog = Catalog.build(
        {"sales.orders": parse_clause("tenant_id = 1", dialect="trino", columns=None)},
        dialect="trino",
        default_schema="sales",
        default_catalog="hive",
    )
    expected = "SELECT orders.id FROM (SELECT * FROM hive.sales.orders WHERE orders.tenant_id = 1) AS orders"
    for query in ("SELECT orders.id FROM orders", "SELECT hive.sales.orders.id FROM hive.sales.orders"):
        assert rewrite_sql(query, dialect="trino", catalog=catalog) == expected
    with pytest.raises(RewriteRefused) as refusal:
        rewrite_sql("SELECT * FROM iceberg.sales.orders", dialect="trino", catalog=catalog)
    assert refusal.value.code == "table_forbidden"


def test_a_three_part_name_is_read_only_under_its_catalog() -> None:
    catalog = Catalog.build({"my-project.analytics.orders": None}, dialect="bigquery")
    assert (
        rewrite_sql("SELECT * FROM `my-project.analytics.orders`", dialect="bigquery", catalog=catalog)
        == "SELECT * FROM `my-project.analytics.orders`"
    )
    with pytest.raises(RewriteRefused):
        rewrite_sql("SELECT * FROM analytics.orders", dialect="bigquery", catalog=catalog)
