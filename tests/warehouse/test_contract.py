"""What every connector promises, run against each real engine in turn."""

from __future__ import annotations

import json
import time

import pytest

from gateway.warehouse import (
    DEFAULT_MAX_RESULT_BYTES,
    Column,
    Connector,
    QueryFailed,
    Result,
    ResultTooLarge,
    WarehouseError,
    WarehouseTimeout,
    connect,
)
from tests.warehouse.conftest import ITEMS, OPTIONS, Warehouse

pytestmark = pytest.mark.anyio


async def test_rows_columns_and_types(warehouse: Warehouse) -> None:
    async with connect(warehouse.url, options=OPTIONS) as connector:
        assert isinstance(connector, Connector)
        result = await connector.execute(
            f"SELECT id, name, price, day, created FROM {warehouse.table} WHERE id <= 3 ORDER BY id",
            row_limit=100,
            timeout=10,
        )
    assert result == Result(
        [Column(name, type_) for name, type_ in warehouse.types.items()],
        [
            [1, "item 1", 0.01, "2024-01-02", "2024-01-01T10:30:00"],
            [2, "item 2", 0.02, "2024-01-03", "2024-01-01T10:30:00"],
            [3, "item 3", 0.03, "2024-01-04", "2024-01-01T10:30:00"],
        ],
        truncated=False,
    )
    # The answer is written from the connector's own encoding of the rows: the same rows.
    assert json.loads(result.rows_as_json()) == result.rows


async def test_aggregates_come_back_as_numbers(warehouse: Warehouse) -> None:
    async with connect(warehouse.url, options=OPTIONS) as connector:
        result = await connector.execute(
            f"SELECT count(*) AS n, sum(price) AS total FROM {warehouse.table}",
            row_limit=10,
            timeout=10,
        )
    [[count, total]] = result.rows
    assert count == ITEMS
    assert total == pytest.approx(sum(range(1, ITEMS + 1)) / 100)
    assert [c.name for c in result.columns] == ["n", "total"]


@pytest.mark.parametrize(
    ("row_limit", "truncated"), [(10, True), (ITEMS - 1, True), (ITEMS, False), (ITEMS + 5, False)]
)
async def test_row_limit_truncates(warehouse: Warehouse, row_limit: int, truncated: bool) -> None:
    async with connect(warehouse.url, options=OPTIONS) as connector:
        result = await connector.execute(
            f"SELECT id FROM {warehouse.table} ORDER BY id",
            row_limit=row_limit,
            timeout=10,
        )
    assert result.truncated is truncated
    assert [row[0] for row in result.rows] == list(range(1, min(row_limit, ITEMS) + 1))


async def test_row_limit_zero_still_says_whether_rows_exist(warehouse: Warehouse) -> None:
    async with connect(warehouse.url, options=OPTIONS) as connector:
        some = await connector.execute(f"SELECT id FROM {warehouse.table}", row_limit=0, timeout=10)
        none = await connector.execute(
            f"SELECT id FROM {warehouse.table} WHERE id < 0",
            row_limit=0,
            timeout=10,
        )
    assert (some.rows, some.truncated) == ([], True)
    assert (none.rows, none.truncated) == ([], False)
    assert some.columns == none.columns == [Column("id", warehouse.types["id"])]


async def test_a_slow_query_times_out_and_the_connector_still_works(warehouse: Warehouse) -> None:
    async with connect(warehouse.url, options=OPTIONS) as connector:
        started = time.monotonic()
        with pytest.raises(WarehouseTimeout) as caught:
            await connector.execute(warehouse.slow_sql, row_limit=10, timeout=1.0)
        elapsed = time.monotonic() - started
        assert 0.9 <= elapsed < 1.0 + OPTIONS.cancel_grace + 0.5
        assert "SELECT" not in str(caught.value)
        # The cancelled query left nothing behind: the pool serves the next query at once.
        result = await connector.execute(f"SELECT count(*) FROM {warehouse.table}", row_limit=1, timeout=5)
        assert result.rows == [[ITEMS]]


async def test_errors_never_show_the_sql(warehouse: Warehouse) -> None:
    marker = "SECRET-LITERAL-4711"
    sql = f"SELECT no_such_column_xyz FROM {warehouse.table} WHERE name = '{marker}'"
    async with connect(warehouse.url, options=OPTIONS) as connector:
        with pytest.raises(QueryFailed) as caught:
            await connector.execute(sql, row_limit=10, timeout=10)
        with pytest.raises(QueryFailed) as syntax:
            await connector.execute(f"SELEC '{marker}' FROM", row_limit=10, timeout=10)
    for error in (caught.value, syntax.value):
        shown = f"{error} {error!r}"
        assert marker not in shown
        assert "no_such_column_xyz" not in shown
        assert "SELEC" not in shown
        assert warehouse.table not in shown
        assert str(error).startswith("the warehouse refused the query")
    assert caught.value.detail  # the warehouse's own words, for the logs


async def test_writes_are_refused(warehouse: Warehouse) -> None:
    async with connect(warehouse.url, options=OPTIONS) as connector:
        for statement in (
            f"INSERT INTO {warehouse.table} (id, name) VALUES (-1, 'x')",
            f"DROP TABLE {warehouse.table}",
        ):
            with pytest.raises(QueryFailed):
                await connector.execute(statement, row_limit=10, timeout=10)
        result = await connector.execute(f"SELECT count(*) FROM {warehouse.table}", row_limit=1, timeout=5)
    assert result.rows == [[ITEMS]]


async def test_introspection_returns_the_columns(warehouse: Warehouse) -> None:
    async with connect(warehouse.url, options=OPTIONS) as connector:
        columns = await connector.columns_of(warehouse.table)
        with pytest.raises(QueryFailed):
            await connector.columns_of("no_such_table_xyz")
        with pytest.raises(QueryFailed):
            await connector.columns_of(f"{warehouse.table}; DROP TABLE {warehouse.table}")
        with pytest.raises(QueryFailed):
            await connector.columns_of("(SELECT 1)")
        still_there = await connector.columns_of(warehouse.table)
    assert columns == still_there == [Column(name, type_) for name, type_ in warehouse.types.items()]


async def test_concurrent_queries_share_the_pool(warehouse: Warehouse) -> None:
    import asyncio

    async with connect(warehouse.url, options=OPTIONS) as connector:
        results = await asyncio.gather(
            *(
                connector.execute(
                    f"SELECT count(*) FROM {warehouse.table} WHERE id <= {n}",
                    row_limit=1,
                    timeout=10,
                )
                for n in range(1, 3 * OPTIONS.pool_max_size + 1)
            )
        )
    assert [r.rows for r in results] == [[[n]] for n in range(1, 3 * OPTIONS.pool_max_size + 1)]


async def test_ping_and_lifecycle(warehouse: Warehouse) -> None:
    connector = connect(warehouse.url, options=OPTIONS)
    await connector.ping(timeout=5)
    await connector.aclose()
    await connector.aclose()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        await connector.execute("SELECT 1", row_limit=1, timeout=1)


@pytest.mark.parametrize(
    ("row_limit", "seconds"), [(-1, 1.0), (10, 0), (10, -1.0), (10, float("nan")), (10, float("inf"))]
)
async def test_limits_are_checked(duckdb_warehouse: Warehouse, row_limit: int, seconds: float) -> None:
    async with connect(duckdb_warehouse.url, options=OPTIONS) as connector:
        with pytest.raises(ValueError, match=r"row_limit|timeout"):
            await connector.execute("SELECT 1", row_limit=row_limit, timeout=seconds)


async def test_many_large_values_are_refused_while_read(warehouse: Warehouse) -> None:
    """`repeat('x', 16000000) ... limit 6`: the read stops past the bound, and the connector still works."""
    async with connect(warehouse.url, options=OPTIONS) as connector:
        with pytest.raises(ResultTooLarge) as caught:
            await connector.execute(
                warehouse.big_values_sql(16_000_000, 6), row_limit=10, timeout=30, max_bytes=10_000_000
            )
        assert str(caught.value) == "the answer is larger than 10000000 bytes"
        result = await connector.execute(f"SELECT count(*) FROM {warehouse.table}", row_limit=1, timeout=5)
    assert result.rows == [[ITEMS]]


async def test_one_row_over_the_default_bound_is_refused(warehouse: Warehouse) -> None:
    async with connect(warehouse.url, options=OPTIONS) as connector:
        with pytest.raises(ResultTooLarge, match=str(DEFAULT_MAX_RESULT_BYTES)):
            await connector.execute(warehouse.big_values_sql(20_000_000, 1), row_limit=10, timeout=30)


async def test_an_answer_at_the_bound_comes_back_whole(warehouse: Warehouse) -> None:
    """The bound is the answer's rows as compact JSON: `["x...x"]` per row, a comma between rows."""
    size, rows = 1_000_000, 4
    exact = rows * (size + len('[""]')) + (rows - 1)
    sql = warehouse.big_values_sql(size, rows)
    async with connect(warehouse.url, options=OPTIONS) as connector:
        result = await connector.execute(sql, row_limit=10, timeout=30, max_bytes=exact)
        with pytest.raises(ResultTooLarge):
            await connector.execute(sql, row_limit=10, timeout=30, max_bytes=exact - 1)
    assert (result.rowcount, result.truncated) == (rows, False)
    assert all(row == ["x" * size] for row in result.rows)


async def test_rows_beyond_the_row_limit_do_not_count(warehouse: Warehouse) -> None:
    sql = warehouse.big_values_sql(1_000_000, 3)
    async with connect(warehouse.url, options=OPTIONS) as connector:
        result = await connector.execute(sql, row_limit=1, timeout=30, max_bytes=1_000_004)
    assert (result.rowcount, result.truncated) == (1, True)


@pytest.mark.parametrize("max_bytes", [0, -1, 10**10, True])
async def test_the_byte_bound_is_checked(duckdb_warehouse: Warehouse, max_bytes: int) -> None:
    async with connect(duckdb_warehouse.url, options=OPTIONS) as connector:
        with pytest.raises(ValueError, match="max_bytes"):
            await connector.execute("SELECT 1", row_limit=1, timeout=1, max_bytes=max_bytes)


def test_errors_form_one_family() -> None:
    assert issubclass(ResultTooLarge, WarehouseError)
    assert issubclass(WarehouseTimeout, WarehouseError)
    assert issubclass(QueryFailed, WarehouseError)
