"""Choosing connectors by scheme and owning them: one per URL, all closed together."""

from __future__ import annotations

import pytest

from gateway.warehouse import (
    ClickHouseConnector,
    ConnectorOptions,
    Connectors,
    ConnectorState,
    DuckDBConnector,
    PostgresConnector,
    UnsupportedWarehouse,
    connect,
    table_sql,
)
from tenants.warehouse_urls import DIALECT_BY_SCHEME
from tests.warehouse.conftest import OPTIONS, Warehouse

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("duckdb:///tmp/x.duckdb", DuckDBConnector),
        ("postgresql://u:p@db:5432/shop", PostgresConnector),
        ("postgres://u@db/shop", PostgresConnector),
        ("clickhouse+http://u@ch:8123/db", ClickHouseConnector),
        ("clickhouse+https://u@ch/db", ClickHouseConnector),
    ],
)
async def test_connect_chooses_by_scheme_without_io(url: str, kind: type) -> None:
    connector = connect(url)
    assert type(connector) is kind
    assert connector.state is ConnectorState.UNOPENED
    assert connector.dialect == DIALECT_BY_SCHEME[url.split(":", 1)[0]]
    await connector.aclose()
    assert connector.state.name == "CLOSED"


def test_unsupported_schemes_are_refused_without_the_url() -> None:
    with pytest.raises(UnsupportedWarehouse) as caught:
        connect("trino://me:Pa55-SECRET@trino:8080/hive")
    assert "Pa55-SECRET" not in str(caught.value)
    with pytest.raises(UnsupportedWarehouse):
        connect("not a url")


async def test_one_connector_per_url_closed_together(duckdb_warehouse: Warehouse, tmp_path: object) -> None:
    async with Connectors(OPTIONS) as connectors:
        first = connectors.get(duckdb_warehouse.url)
        assert connectors.get(duckdb_warehouse.url) is first
        memory = connectors.get("duckdb:///:memory:")
        assert memory is not first and len(connectors) == 2
        assert (await first.execute("SELECT 1", row_limit=1, timeout=5)).rows == [[1]]
        await connectors.discard("duckdb:///:memory:")
        assert memory.state is ConnectorState.CLOSED and len(connectors) == 1
        await first.aclose()  # closed by someone else: the registry makes a new one
        replacement = connectors.get(duckdb_warehouse.url)
        assert replacement is not first
        assert (await replacement.execute("SELECT 2", row_limit=1, timeout=5)).rows == [[2]]
        first = replacement
    assert first.state is ConnectorState.CLOSED
    with pytest.raises(RuntimeError):
        connectors.get(duckdb_warehouse.url)
    with pytest.raises(RuntimeError):
        await first.execute("SELECT 1", row_limit=1, timeout=5)


async def test_closing_survives_a_connector_that_fails_to_close() -> None:
    class Broken(DuckDBConnector):
        async def _close(self) -> None:
            raise OSError("boom")

    connectors = Connectors(OPTIONS, factory=lambda url, options: Broken(options=options))
    broken = connectors.get("duckdb:///:memory:")
    await broken.open()
    healthy = Connectors(OPTIONS)
    await connectors.aclose()
    assert broken.state is ConnectorState.CLOSED
    await healthy.aclose()


def test_options_are_finite() -> None:
    with pytest.raises(ValueError, match="timeouts"):
        ConnectorOptions(connect_timeout=0)
    with pytest.raises(ValueError, match="timeouts"):
        ConnectorOptions(connect_timeout=float("inf"))
    with pytest.raises(ValueError, match="pool"):
        ConnectorOptions(pool_min_size=5, pool_max_size=2)


@pytest.mark.parametrize(
    ("ref", "dialect", "sql"),
    [
        ("main.orders", "duckdb", "main.orders"),
        ('"Sales"."Orders"', "postgres", '"Sales"."Orders"'),
        ("db.items", "clickhouse", "db.items"),
        ("t; DROP TABLE x", "postgres", '"t; DROP TABLE x"'),
    ],
)
def test_table_refs_are_names(ref: str, dialect: str, sql: str) -> None:
    assert table_sql(ref, dialect) == sql


@pytest.mark.parametrize("ref", ["read_csv('/etc/passwd')", "a.b.c.d", ""])
def test_expressions_are_not_table_refs(ref: str) -> None:
    from gateway.warehouse import QueryFailed

    with pytest.raises(QueryFailed):
        table_sql(ref, "duckdb")
