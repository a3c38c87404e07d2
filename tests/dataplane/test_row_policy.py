"""A token's rules and the tenant's filters, resolved and enforced by the rewriter on the demo data:
the rows that come back are exactly those of a direct query with the expected predicate."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from gateway.data.chart_sql import chart_query
from gateway.data.row_policy import RowPolicies, catalog_for
from gateway.rls.errors import ResolutionError, RewriteRefused
from gateway.rls.filter_spec import FilterSpec
from gateway.rls.rewrite import rewrite_sql
from gateway.service.demo.dataset import create_demo_database
from gateway.tokens.claims import GuestClaims, GuestUser
from tenants.store import Column, Dataset, RowFilter

COLUMNS = tuple(Column(name, "VARCHAR") for name in ("id", "tenant_id", "region", "amount", "status"))
ORDERS = Dataset(1, "t", "orders", "wh", "duckdb", "main.orders", None, COLUMNS)
ORDERS_COPY = Dataset(2, "t", "orders_eu", "wh", "duckdb", "main.orders", None, COLUMNS)
ELSEWHERE = Dataset(3, "t", "other", "wh2", "duckdb", "main.customers", None, COLUMNS)
REVENUE_BY_REGION = {
    "metrics": [{"aggregate": "SUM", "column": "amount", "label": "revenue"}],
    "groupby": ["region"],
    "order_by": [{"column": "region"}],
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    path: Path = create_demo_database(tmp_path_factory.mktemp("demo") / "demo.duckdb")
    connection = duckdb.connect(str(path), read_only=True)
    yield connection
    connection.close()


def claims(*rules: dict[str, Any], roles: tuple[str, ...] = (), **attributes: Any) -> GuestClaims:
    return GuestClaims(
        issuer="i", audience=("a",), subject="alice", tenant_id="t", issued_at=0, not_before=0, expires_at=1,
        token_id="j", token_type="guest", user=GuestUser("alice", attributes=attributes, roles=roles),
        resources=(), rls_rules=tuple(rules),
    )  # fmt: skip


def base(
    clause: str, dataset: str = "orders", group_key: str | None = None, roles: tuple[str, ...] = ()
) -> RowFilter:
    return RowFilter(0, "t", "f", "base", dataset, clause, group_key, roles)


def regular(
    clause: str, roles: tuple[str, ...], dataset: str = "orders", group_key: str | None = None
) -> RowFilter:
    return RowFilter(0, "t", "f", "regular", dataset, clause, group_key, roles)


def served(
    db: duckdb.DuckDBPyConnection,
    token: GuestClaims,
    filters: list[RowFilter],
    *,
    user_filters: tuple[FilterSpec, ...] = (),
    datasets: tuple[Dataset, ...] = (ORDERS,),
) -> list[tuple[Any, ...]]:
    catalog = catalog_for(list(datasets), token, filters, warehouse="wh", dialect="duckdb")
    sql = chart_query(REVENUE_BY_REGION, ORDERS, user_filters=list(user_filters), row_limit=1000).sql(
        "duckdb"
    )
    return db.execute(rewrite_sql(sql, dialect="duckdb", catalog=catalog)).fetchall()


def direct(db: duckdb.DuckDBPyConnection, predicate: str) -> list[tuple[Any, ...]]:
    return db.execute(
        f"SELECT region, SUM(amount) FROM main.orders WHERE {predicate} GROUP BY region ORDER BY region"
    ).fetchall()


def test_the_tenants_base_filter_separates_tenants(db: duckdb.DuckDBPyConnection) -> None:
    acme = served(db, claims(), [base("tenant_id = 1")])
    globex = served(db, claims(), [base("tenant_id = 2")])
    assert acme == direct(db, "tenant_id = 1")
    assert globex == direct(db, "tenant_id = 2")
    assert acme and globex and acme != globex


def test_token_rules_narrow_within_the_tenant(db: duckdb.DuckDBPyConnection) -> None:
    region = db.execute("SELECT min(region) FROM main.orders WHERE tenant_id = 1").fetchone()[0]  # type: ignore[index]
    token = claims({"dataset": "orders", "clause": "region = {{ user.attributes.region }}"}, region=region)
    assert served(db, token, [base("tenant_id = 1")]) == direct(db, f"tenant_id = 1 AND region = '{region}'")


def test_a_regular_rule_replaces_the_base_filter_of_its_group(db: duckdb.DuckDBPyConnection) -> None:
    """Superset's group_key: the token's rule in group "tenant" lifts the base filter of that group."""
    token = claims({"dataset": "orders", "clause": "tenant_id IN (1, 2)", "group_key": "tenant"})
    filters = [base("tenant_id = 1", group_key="tenant"), base("status <> 'cancelled'")]
    assert served(db, token, filters) == direct(db, "tenant_id IN (1, 2) AND status <> 'cancelled'")


def test_roles_exempt_from_base_filters_and_select_regular_ones(db: duckdb.DuckDBPyConnection) -> None:
    filters = [
        base("status = 'shipped'", roles=("auditor",)),
        regular("tenant_id = 2", roles=("auditor",)),
        base("tenant_id = 1"),
    ]
    assert served(db, claims(), filters) == direct(db, "status = 'shipped' AND tenant_id = 1")
    assert served(db, claims(roles=("auditor",)), filters) == direct(db, "tenant_id = 2 AND tenant_id = 1")


def test_two_datasets_over_one_table_both_restrict_it(db: duckdb.DuckDBPyConnection) -> None:
    filters = [base("tenant_id = 1"), base("region = 'EU'", dataset="orders_eu")]
    rows = served(db, claims(), filters, datasets=(ORDERS, ORDERS_COPY))
    assert rows == direct(db, "tenant_id = 1 AND region = 'EU'")


def test_a_user_filter_is_added_not_substituted(db: duckdb.DuckDBPyConnection) -> None:
    sneaky = FilterSpec(column="tenant_id", op="IN", value=[1, 2])
    assert served(db, claims(), [base("tenant_id = 1")], user_filters=(sneaky,)) == direct(
        db, "tenant_id = 1"
    )


def test_a_missing_attribute_refuses_instead_of_widening(db: duckdb.DuckDBPyConnection) -> None:
    token = claims({"dataset": "orders", "clause": "region = {{ user.attributes.region }}"})
    with pytest.raises(ResolutionError):
        served(db, token, [base("tenant_id = 1")])


def test_tables_of_other_warehouses_or_unlisted_are_not_readable(db: duckdb.DuckDBPyConnection) -> None:
    catalog = catalog_for(
        [ORDERS, ELSEWHERE], claims(), [base("tenant_id = 1")], warehouse="wh", dialect="duckdb"
    )
    with pytest.raises(RewriteRefused) as refused:
        rewrite_sql("SELECT * FROM main.customers", dialect="duckdb", catalog=catalog)
    assert refused.value.code == "table_forbidden"


def test_a_reused_token_id_never_shares_another_token_fingerprint() -> None:
    """Plans and cached predicates are keyed by the fingerprint: it must follow the claims themselves."""
    policies = RowPolicies(None, prefix="test:")
    narrow = claims({"dataset": "orders", "clause": "region = 'Europe'"})
    wide = claims()  # the same tenant and token id, no rules
    assert narrow.token_id == wide.token_id
    assert policies.fingerprint(narrow) != policies.fingerprint(wide)
    assert policies.fingerprint(narrow) == policies.fingerprint(narrow)
