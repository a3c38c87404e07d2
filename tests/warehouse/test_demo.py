"""The demo data set: two tenants' rows, deterministic, and registry bodies the onboarding API accepts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from gateway.service.demo.dataset import DEMO_ORIGIN, create_demo_database, demo_rows, demo_tenants
from gateway.warehouse import Column, connect
from tenants.schemas import (
    ChartCreate,
    DashboardCreate,
    DatasetCreate,
    FilterCreate,
    TenantCreate,
    WarehouseCreate,
)
from tenants.warehouse_urls import parse_warehouse_url
from tests.warehouse.conftest import OPTIONS

pytestmark = pytest.mark.anyio


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    with duckdb.connect(str(path), read_only=True) as conn:
        for table, key in (("customers", "customer_id"), ("products", "product_id"), ("orders", "order_id")):
            for row in conn.execute(f"SELECT * FROM main.{table} ORDER BY {key}").fetchall():
                digest.update(repr(row).encode())
    return digest.hexdigest()


def test_tenants_and_row_counts(demo_path: Path) -> None:
    with duckdb.connect(str(demo_path), read_only=True) as conn:
        counts = {
            table: dict(conn.execute(f"SELECT tenant_id, count(*) FROM main.{table} GROUP BY 1").fetchall())
            for table in ("customers", "products", "orders")
        }
        orphans = conn.execute(
            "SELECT count(*) FROM main.orders o JOIN main.customers c USING (customer_id)"
            " JOIN main.products p USING (product_id)"
            " WHERE o.tenant_id <> c.tenant_id OR o.tenant_id <> p.tenant_id OR o.region <> c.region"
        ).fetchone()
        months = conn.execute("SELECT count(DISTINCT order_month) FROM main.orders").fetchone()
        regions = conn.execute(
            "SELECT tenant_id, count(DISTINCT region) FROM main.orders GROUP BY 1"
        ).fetchall()
    assert counts == {
        "customers": {1: 160, 2: 110},
        "products": {1: 12, 2: 10},
        "orders": {1: 2400, 2: 1600},
    }
    assert orphans == (0,)  # every order's customer and product belong to its tenant
    assert months == (24,)
    assert sorted(regions) == [(1, 4), (2, 4)]


def test_the_same_seed_gives_the_same_data(tmp_path: Path, demo_path: Path) -> None:
    again = create_demo_database(tmp_path / "again.duckdb")
    assert _fingerprint(again) == _fingerprint(demo_path)
    other = create_demo_database(tmp_path / "other.duckdb", seed=7)
    assert _fingerprint(other) != _fingerprint(demo_path)
    assert demo_rows(7) == demo_rows(7)


async def test_a_path_with_odd_characters_round_trips(tmp_path: Path) -> None:
    path = create_demo_database(tmp_path / "odd dir #1" / "demo%20.duckdb", seed=3)
    [acme, _] = demo_tenants(path)
    async with connect(acme.warehouse["url"], options=OPTIONS) as connector:
        assert (await connector.execute("SELECT count(*) FROM main.orders", row_limit=1, timeout=5)).rows == [
            [4000]
        ]


def test_an_existing_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "demo.duckdb"
    path.write_bytes(b"not a database")
    create_demo_database(path, seed=1)
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM main.orders").fetchone() == (4000,)


def test_the_bodies_are_what_the_onboarding_api_accepts(demo_path: Path) -> None:
    tenants = demo_tenants(demo_path)
    assert [t.slug for t in tenants] == ["acme", "globex"]
    for tenant in tenants:
        assert TenantCreate.model_validate(tenant.tenant).origins == [DEMO_ORIGIN]
        WarehouseCreate.model_validate(tenant.warehouse)
        assert parse_warehouse_url(tenant.warehouse["url"]).dialect == "duckdb"
        datasets = {d["name"]: DatasetCreate.model_validate(d) for d in tenant.datasets}
        assert set(datasets) == {"orders", "customers", "products"}
        [base] = [FilterCreate.model_validate(f) for f in tenant.filters]
        assert (base.filter_type, base.dataset, base.clause) == (
            "base",
            "*",
            f"tenant_id = {tenant.tenant_id}",
        )
        charts = [ChartCreate.model_validate(c) for c in tenant.charts]
        assert sorted(c.viz_type for c in charts) == ["bar", "big_number", "line", "table"]
        for chart in charts:
            assert chart.query is not None
            names = {c.name for c in datasets[chart.dataset].columns}
            used = set(chart.query.groupby) | {m.column for m in chart.query.metrics if m.column}
            used |= {f.column for f in chart.query.filters}
            assert used <= names, chart.title
        assert tenant.dashboard_charts == [c.title for c in charts]
        body = DashboardCreate.model_validate(tenant.dashboard_body([1, 2, 3, 4]))
        assert body.charts == [1, 2, 3, 4]


async def test_declared_columns_match_the_warehouse(demo_path: Path) -> None:
    [acme, globex] = demo_tenants(demo_path)
    async with connect(acme.warehouse["url"], options=OPTIONS) as connector:
        for dataset in acme.datasets:
            declared = [Column(c["name"], c["type"]) for c in dataset["columns"]]
            assert await connector.columns_of(dataset["table"]) == declared
        per_tenant = {}
        for tenant in (acme, globex):
            clause = tenant.filters[0]["clause"]
            result = await connector.execute(
                f"SELECT region, sum(amount) AS revenue FROM main.orders WHERE {clause}"
                " GROUP BY region ORDER BY revenue DESC",
                row_limit=100,
                timeout=10,
            )
            per_tenant[tenant.slug] = result.rows
    assert len(per_tenant["acme"]) == len(per_tenant["globex"]) == 4
    assert per_tenant["acme"][0][0] == "North America" and per_tenant["globex"][0][0] == "Europe"
    assert all(isinstance(revenue, float) and revenue > 0 for _, revenue in per_tenant["acme"])
