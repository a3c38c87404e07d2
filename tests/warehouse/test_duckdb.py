"""DuckDB specifics: worker threads, interrupts, read-only files and a locked-down configuration."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import pytest

from gateway.warehouse import (
    DuckDBConnector,
    QueryFailed,
    WarehouseTimeout,
    WarehouseUnavailable,
    connect,
)
from gateway.warehouse.duckdb_connector import QUERY_THREAD_NICENESS
from tests.warehouse.conftest import ITEMS, OPTIONS, Warehouse

pytestmark = pytest.mark.anyio

ONE_CURSOR = dataclasses.replace(OPTIONS, pool_max_size=1)
ENDLESS = "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = -1"


async def test_values_are_json_safe() -> None:
    async with DuckDBConnector() as connector:
        result = await connector.execute(
            "SELECT 1.50::DECIMAL(10,2) AS d, DATE '2024-01-31' AS day,"
            " TIMESTAMP '2024-01-31 12:00:00' AS ts, TIMESTAMPTZ '2024-01-31 12:00:00+00' AS tz,"
            " TIME '10:00' AS tm, INTERVAL 90 MINUTE AS i, '00000000-0000-0000-0000-000000000001'::UUID AS u,"
            " [1, 2] AS l, {'a': 1} AS s, MAP([1], ['x']) AS m,"
            " 'nan'::DOUBLE AS nan, 'ab'::BLOB AS b, 170141183460469231731687303715884105727::HUGEINT AS h,"
            " NULL AS missing",
            row_limit=1,
            timeout=5,
        )
    assert result.rows == [
        [
            1.5, "2024-01-31", "2024-01-31T12:00:00", result.rows[0][3], "10:00:00", 5400.0,
            "00000000-0000-0000-0000-000000000001", [1, 2], {"a": 1}, {"1": "x"}, None, "YWI=",
            170141183460469231731687303715884105727, None,
        ]
    ]  # fmt: skip
    assert str(result.rows[0][3]).startswith("2024-01-31T")
    assert [c.type for c in result.columns][:4] == [
        "DECIMAL(10,2)",
        "DATE",
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
    ]
    json.dumps(result.rows, allow_nan=False)


async def test_a_file_is_opened_read_only(duckdb_warehouse: Warehouse) -> None:
    async with connect(duckdb_warehouse.url, options=OPTIONS) as connector:
        assert isinstance(connector, DuckDBConnector) and connector.read_only
        with pytest.raises(QueryFailed):
            await connector.execute("CREATE TABLE main.t AS SELECT 1", row_limit=1, timeout=5)


async def test_files_and_settings_are_out_of_reach(tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    async with DuckDBConnector() as connector:
        for sql in (
            f"SELECT * FROM read_csv('{secret}')",
            f"ATTACH '{tmp_path / 'other.duckdb'}' AS other",
            "SET enable_external_access = true",
            f"COPY (SELECT 1) TO '{tmp_path / 'out.csv'}'",
        ):
            with pytest.raises(QueryFailed) as caught:
                await connector.execute(sql, row_limit=10, timeout=5)
            assert str(tmp_path) not in str(caught.value)
    assert not (tmp_path / "out.csv").exists() and not (tmp_path / "other.duckdb").exists()


async def test_a_missing_file_is_unavailable(tmp_path: Path) -> None:
    connector = connect(f"duckdb://{tmp_path}/missing.duckdb", options=OPTIONS)
    with pytest.raises(WarehouseUnavailable) as caught:
        await connector.execute("SELECT 1", row_limit=1, timeout=5)
    assert str(tmp_path) not in str(caught.value)
    # A failed open can be retried once the file exists.
    await connector.aclose()


async def test_the_interrupt_stops_the_thread_and_frees_the_cursor() -> None:
    async with DuckDBConnector(options=ONE_CURSOR) as connector:
        for _ in range(3):
            with pytest.raises(WarehouseTimeout):
                await connector.execute(ENDLESS, row_limit=1, timeout=0.3)
            started = time.monotonic()
            result = await connector.execute("SELECT 42", row_limit=1, timeout=5)
            assert result.rows == [[42]]
            assert time.monotonic() - started < 0.5


async def test_cancelling_the_caller_interrupts_the_query() -> None:
    async with DuckDBConnector(options=ONE_CURSOR) as connector:
        running = asyncio.create_task(connector.execute(ENDLESS, row_limit=1, timeout=60))
        await asyncio.sleep(0.3)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        started = time.monotonic()
        result = await connector.execute("SELECT 42", row_limit=1, timeout=5)  # waits for the one cursor
        assert result.rows == [[42]]
        assert time.monotonic() - started < 1.0


async def test_waiting_for_a_busy_pool_counts_against_the_timeout() -> None:
    async with DuckDBConnector(options=ONE_CURSOR) as connector:
        busy = asyncio.create_task(connector.execute(ENDLESS, row_limit=1, timeout=1.0))
        await asyncio.sleep(0.1)
        with pytest.raises(WarehouseTimeout):
            await connector.execute("SELECT 1", row_limit=1, timeout=0.3)
        with pytest.raises(WarehouseTimeout):
            await busy


async def test_queries_run_off_the_event_loop() -> None:
    async with DuckDBConnector(options=ONE_CURSOR) as connector:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        with pytest.raises(WarehouseTimeout):
            await connector.execute(ENDLESS, row_limit=1, timeout=0.5)
        ticker.cancel()
    assert ticks >= 20


def thread_niceness(name_prefix: str) -> list[int]:
    """The scheduling niceness of this process's threads whose name starts with `name_prefix`."""
    return [
        os.getpriority(os.PRIO_PROCESS, thread.native_id)
        for thread in threading.enumerate()
        if thread.name.startswith(name_prefix) and thread.native_id is not None
    ]


async def test_queries_run_below_the_event_loops_priority() -> None:
    async with DuckDBConnector(options=ONE_CURSOR) as connector:
        await connector.execute("SELECT 1", row_limit=1, timeout=5)
        assert thread_niceness("duckdb") == [os.nice(0) + QUERY_THREAD_NICENESS]


async def test_closing_interrupts_running_queries() -> None:
    connector = DuckDBConnector(options=ONE_CURSOR)
    running = asyncio.create_task(connector.execute(ENDLESS, row_limit=1, timeout=60))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    await connector.aclose()
    assert time.monotonic() - started < 2.0
    with pytest.raises(QueryFailed):
        await running


async def test_the_demo_file_can_be_shared_by_two_connectors(duckdb_warehouse: Warehouse) -> None:
    first = connect(duckdb_warehouse.url, options=OPTIONS)
    second = connect(duckdb_warehouse.url, options=OPTIONS)
    async with first, second:
        results = await asyncio.gather(
            first.execute(f"SELECT count(*) FROM {duckdb_warehouse.table}", row_limit=1, timeout=5),
            second.execute(f"SELECT count(*) FROM {duckdb_warehouse.table}", row_limit=1, timeout=5),
        )
    assert [r.rows for r in results] == [[[ITEMS]], [[ITEMS]]]


def test_urls(tmp_path: Path) -> None:
    assert DuckDBConnector.from_url("duckdb:///:memory:").path == ":memory:"
    assert DuckDBConnector.from_url("duckdb://").path == ":memory:"
    on_disk = DuckDBConnector.from_url(f"duckdb://{tmp_path}/x.duckdb")
    assert (on_disk.path, on_disk.read_only) == (f"{tmp_path}/x.duckdb", True)
    assert not DuckDBConnector.from_url(f"duckdb://{tmp_path}/x.duckdb?read_only=false").read_only
    assert not DuckDBConnector.from_url("duckdb:///:memory:").read_only
    with pytest.raises(ValueError, match="read_only"):
        DuckDBConnector.from_url("duckdb:///x.duckdb?threads=64")
    with pytest.raises(ValueError, match="looks like"):
        DuckDBConnector.from_url("duckdb://host/x.duckdb")


async def test_the_database_runs_with_bounded_memory_and_one_thread(duckdb_warehouse: Warehouse) -> None:
    async with connect(duckdb_warehouse.url, options=OPTIONS) as connector:
        result = await connector.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')", row_limit=1, timeout=5
        )
        with pytest.raises(QueryFailed):
            await connector.execute("SET memory_limit = '100GB'", row_limit=1, timeout=5)
    [[memory_limit, threads]] = result.rows
    assert memory_limit.endswith("MiB") and float(memory_limit.split()[0]) <= 1024
    assert threads == 1
