"""ClickHouse specifics: streaming, server-side limits, KILL QUERY on cancellation, error texts."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import pytest

from gateway.warehouse import (
    ClickHouseConnector,
    QueryFailed,
    WarehouseTimeout,
    WarehouseUnavailable,
    connect,
)
from tests.support.services import free_port
from tests.warehouse.conftest import OPTIONS, Warehouse, clickhouse_query

pytestmark = pytest.mark.anyio


def _running(server: str, marker: str) -> list[str]:
    found = clickhouse_query(
        server,
        f"SELECT query FROM system.processes WHERE query LIKE '%{marker}%'"
        " AND query NOT LIKE '%system.processes%'",
    )
    return [line for line in found.splitlines() if line]


async def _until(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())  # type: ignore[operator]


def _slow(marker: int) -> str:
    return f"SELECT count() FROM system.numbers WHERE number % 1000000007 = {marker}"


async def test_an_endless_result_is_cut_at_the_row_limit(clickhouse_warehouse: Warehouse) -> None:
    async with connect(clickhouse_warehouse.url, options=OPTIONS) as connector:
        started = time.monotonic()
        result = await connector.execute("SELECT number FROM system.numbers", row_limit=1000, timeout=10)
        assert time.monotonic() - started < 2.0
        assert result.truncated
        assert result.rows == [[n] for n in range(1000)]
        assert result.columns[0].type == "UInt64"
        after = await connector.execute("SELECT 1 AS one", row_limit=1, timeout=5)  # the session goes on
        assert after.rows == [[1]]


async def test_a_timed_out_query_is_gone_from_the_server(clickhouse_warehouse: Warehouse) -> None:
    server = urlunsplit(urlsplit(clickhouse_warehouse.url)._replace(path=""))
    marker = 2_000_000_000 + secrets.randbelow(10**6)
    async with connect(clickhouse_warehouse.url, options=OPTIONS) as connector:
        running = asyncio.create_task(connector.execute(_slow(marker), row_limit=1, timeout=1.0))
        assert await _until(lambda: _running(server, str(marker)), 1.0)
        with pytest.raises(WarehouseTimeout):
            await running
        assert await _until(lambda: not _running(server, str(marker)), 0.5)


async def test_cancelling_the_caller_kills_the_query(clickhouse_warehouse: Warehouse) -> None:
    server = urlunsplit(urlsplit(clickhouse_warehouse.url)._replace(path=""))
    marker = 3_000_000_000 + secrets.randbelow(10**6)
    async with connect(clickhouse_warehouse.url, options=OPTIONS) as connector:
        running = asyncio.create_task(connector.execute(_slow(marker), row_limit=1, timeout=60))
        assert await _until(lambda: _running(server, str(marker)), 2.0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert await _until(lambda: not _running(server, str(marker)), 2.0)


async def test_an_error_after_rows_were_streamed_is_a_failure(clickhouse_warehouse: Warehouse) -> None:
    async with connect(clickhouse_warehouse.url, options=OPTIONS) as connector:
        with pytest.raises(QueryFailed) as caught:
            await connector.execute(
                # The first block (65536 rows, > 1 MB of JSON) is sent before the second one throws.
                f"SELECT number, '{'x' * 40}' AS pad, throwIf(number = 70000)"
                " FROM system.numbers LIMIT 100000",
                row_limit=200_000,
                timeout=20,
            )
    assert caught.value.code == "395"
    assert "throwIf" not in str(caught.value)


async def test_a_wrong_password_is_unavailable_and_never_shown(clickhouse_warehouse: Warehouse) -> None:
    parts = urlsplit(clickhouse_warehouse.url)
    url = urlunsplit(parts._replace(netloc=f"default:Pa55-SECRET@{parts.hostname}:{parts.port}"))
    connector = connect(url, options=OPTIONS)
    with pytest.raises(WarehouseUnavailable, match="credentials") as caught:
        await connector.execute("SELECT 1", row_limit=1, timeout=5)
    await connector.aclose()
    assert "Pa55-SECRET" not in f"{caught.value} {caught.value!r} {caught.value.detail} {connector!r}"


async def test_a_refused_connection_is_unavailable_at_once() -> None:
    connector = connect(f"clickhouse+http://127.0.0.1:{free_port()}/db", options=OPTIONS)
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable):
        await connector.execute("SELECT 1", row_limit=1, timeout=5)
    with pytest.raises(WarehouseUnavailable):
        await connector.ping(timeout=1)
    await connector.aclose()
    assert time.monotonic() - started < 1.0


async def test_an_unroutable_host_is_unavailable_after_the_connect_timeout() -> None:
    options = dataclasses.replace(OPTIONS, connect_timeout=0.5)
    started = time.monotonic()
    async with connect("clickhouse+http://10.255.255.1:8123/db", options=options) as connector:
        with pytest.raises(WarehouseUnavailable):
            await connector.execute("SELECT 1", row_limit=1, timeout=5)
    assert time.monotonic() - started < 2.0


async def test_queries_share_one_session(clickhouse_warehouse: Warehouse) -> None:
    async with connect(clickhouse_warehouse.url, options=OPTIONS) as connector:
        assert isinstance(connector, ClickHouseConnector)
        session = connector._session
        for _ in range(3):
            await connector.execute("SELECT 1", row_limit=1, timeout=5)
        assert connector._session is session
    assert session is not None and session.closed


async def test_clickhouse_values(clickhouse_warehouse: Warehouse) -> None:
    async with connect(clickhouse_warehouse.url, options=OPTIONS) as connector:
        result = await connector.execute(
            "SELECT toUInt64(18446744073709551615) AS big,"
            " toNullable(toDateTime('2024-02-03 04:05:06')) AS t,"
            " [1, 2] AS a, nan AS n, CAST(NULL AS Nullable(String)) AS s, toDecimal32(1.5, 2) AS d",
            row_limit=1,
            timeout=5,
        )
    assert result.rows == [[18446744073709551615, "2024-02-03T04:05:06", [1, 2], None, None, 1.5]]
    assert [c.type for c in result.columns][:2] == ["UInt64", "Nullable(DateTime)"]


def test_urls() -> None:
    https = ClickHouseConnector.from_url("clickhouse+https://me:p%40ss@ch.example.com/sales")
    assert (https.endpoint, https.database) == ("https://ch.example.com:8443/", "sales")
    plain = ClickHouseConnector.from_url("clickhouse+http://ch:9123")
    assert (plain.endpoint, plain.database) == ("http://ch:9123/", None)
    assert "p@ss" not in repr(https) and "p%40ss" not in repr(https)
    with pytest.raises(ValueError, match="no query parameters"):
        ClickHouseConnector.from_url("clickhouse+http://ch/db?password=x")


async def test_each_query_runs_with_memory_and_result_bounds(clickhouse_warehouse: Warehouse) -> None:
    async with connect(clickhouse_warehouse.url, options=OPTIONS) as connector:
        result = await connector.execute(
            "SELECT name, value FROM system.settings"
            " WHERE name IN ('max_memory_usage', 'max_result_bytes', 'max_execution_time') ORDER BY name",
            row_limit=10,
            timeout=7,
            max_bytes=1_000_000,
        )
    assert result.rows == [
        ["max_execution_time", "7"],
        ["max_memory_usage", "1000000000"],
        ["max_result_bytes", "8000000"],
    ]
