"""PostgreSQL specifics: read-only transactions, statement_timeout, cancellation seen in pg_stat_activity."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from gateway.warehouse import (
    ConnectorOptions,
    PostgresConnector,
    WarehouseTimeout,
    WarehouseUnavailable,
    connect,
)
from tests.support.services import free_port
from tests.warehouse.conftest import OPTIONS, Warehouse

pytestmark = pytest.mark.anyio


def _options() -> ConnectorOptions:
    # A unique application_name finds this test's sessions in pg_stat_activity.
    return dataclasses.replace(OPTIONS, application_name=f"gw-test-{secrets.token_hex(4)}")


def _active_queries(url: str, application_name: str) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT query FROM pg_stat_activity WHERE application_name = %s AND state = 'active'",
            (application_name,),
        ).fetchall()
    return [row[0] for row in rows]


async def _until(predicate: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.05)
    return bool(predicate())  # type: ignore[operator]


async def test_every_query_is_read_only_with_its_statement_timeout(postgres_warehouse: Warehouse) -> None:
    async with connect(postgres_warehouse.url, options=OPTIONS) as connector:
        read_only = await connector.execute("SHOW transaction_read_only", row_limit=1, timeout=5)
        statement_timeout = await connector.execute("SHOW statement_timeout", row_limit=1, timeout=2.5)
        outside = await connector.execute(
            "SELECT reset_val FROM pg_settings WHERE name = 'statement_timeout'", row_limit=1, timeout=5
        )
    assert read_only.rows == [["on"]]
    assert statement_timeout.rows == [["2500ms"]]
    assert outside.rows == [["0"]]  # SET LOCAL: nothing outlives the transaction


async def test_session_settings_do_not_outlive_a_query(postgres_warehouse: Warehouse) -> None:
    options = dataclasses.replace(OPTIONS, pool_min_size=1, pool_max_size=1)
    async with connect(postgres_warehouse.url, options=options) as connector:
        await connector.execute("SET search_path = pg_catalog", row_limit=1, timeout=5)
        after = await connector.execute("SHOW search_path", row_limit=1, timeout=5)
    assert after.rows == [['"$user", public']]


async def test_a_timed_out_query_is_gone_from_the_server(postgres_warehouse: Warehouse) -> None:
    options = _options()
    async with connect(postgres_warehouse.url, options=options) as connector:
        running = asyncio.create_task(connector.execute("SELECT pg_sleep(30)", row_limit=1, timeout=1.0))
        assert await _until(lambda: _active_queries(postgres_warehouse.url, options.application_name), 1.0)
        with pytest.raises(WarehouseTimeout):
            await running
        assert _active_queries(postgres_warehouse.url, options.application_name) == []


async def test_cancelling_the_caller_cancels_the_query_at_the_server(postgres_warehouse: Warehouse) -> None:
    options = _options()
    async with connect(postgres_warehouse.url, options=options) as connector:
        running = asyncio.create_task(connector.execute("SELECT pg_sleep(30)", row_limit=1, timeout=60))
        assert await _until(lambda: _active_queries(postgres_warehouse.url, options.application_name), 2.0)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        assert await _until(
            lambda: not _active_queries(postgres_warehouse.url, options.application_name), 2.0
        )
        result = await connector.execute("SELECT 1", row_limit=1, timeout=5)
        assert result.rows == [[1]]


async def test_a_refused_connection_is_unavailable_at_once() -> None:
    url = f"postgresql://postgres:Pa55-SECRET@127.0.0.1:{free_port()}/nothing"
    connector = connect(url, options=OPTIONS)
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable) as caught:
        await connector.execute("SELECT 1", row_limit=1, timeout=5)
    assert time.monotonic() - started < 1.0
    await connector.aclose()
    for shown in (str(caught.value), repr(caught.value), caught.value.detail or "", repr(connector)):
        assert "Pa55-SECRET" not in shown


async def test_an_unroutable_host_is_unavailable_after_the_connect_timeout() -> None:
    options = dataclasses.replace(OPTIONS, connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(WarehouseUnavailable):
        async with connect("postgresql://postgres@10.255.255.1:5432/x", options=options) as connector:
            await connector.execute("SELECT 1", row_limit=1, timeout=5)
    assert time.monotonic() - started < 2.0


async def test_a_missing_database_is_unavailable_and_hides_the_password(
    postgres_warehouse: Warehouse,
) -> None:
    parts = urlsplit(postgres_warehouse.url)
    netloc = f"postgres:Pa55-SECRET@{parts.hostname}:{parts.port or 5432}"
    url = urlunsplit(parts._replace(netloc=netloc, path="/no_such_database_gw"))
    async with PostgresConnector.from_url(url, options=OPTIONS) as connector:
        with pytest.raises(WarehouseUnavailable, match="does not exist") as caught:
            await connector.execute("SELECT 1", row_limit=1, timeout=5)
    assert "Pa55-SECRET" not in f"{caught.value} {caught.value!r} {caught.value.detail}"


async def test_postgres_values_are_json_safe(postgres_warehouse: Warehouse) -> None:
    async with connect(postgres_warehouse.url, options=OPTIONS) as connector:
        result = await connector.execute(
            "SELECT 1.5::numeric AS n, 'NaN'::float8 AS nan, ARRAY[1, 2] AS a, '{\"k\": 1}'::jsonb AS j,"
            " interval '1 day' AS i, TIMESTAMPTZ '2024-01-01 00:00:00+00' AS tz,"
            " '00000000-0000-0000-0000-000000000001'::uuid AS u, NULL::text AS missing",
            row_limit=1,
            timeout=5,
        )
    assert [c.type for c in result.columns] == [
        "numeric", "float8", "int4[]", "jsonb", "interval", "timestamptz", "uuid", "text",
    ]  # fmt: skip
    [[n, nan, a, j, i, tz, u, missing]] = result.rows
    assert (n, nan, a, i, u, missing) == (
        1.5,
        None,
        [1, 2],
        86400.0,
        "00000000-0000-0000-0000-000000000001",
        None,
    )
    assert j == '{"k": 1}'
    assert isinstance(tz, str) and tz.startswith("2024-01-01T")


async def test_several_statements_are_refused(postgres_warehouse: Warehouse) -> None:
    from gateway.warehouse import QueryFailed

    async with connect(postgres_warehouse.url, options=OPTIONS) as connector:
        with pytest.raises(QueryFailed):
            await connector.execute("SELECT 1; SELECT 2", row_limit=1, timeout=5)


async def test_each_query_runs_with_bounded_work_memory_and_temp_files(postgres_warehouse: Warehouse) -> None:
    async with connect(postgres_warehouse.url, options=OPTIONS) as connector:
        inside = await connector.execute(
            "SELECT current_setting('work_mem'), current_setting('temp_file_limit')", row_limit=1, timeout=5
        )
    assert inside.rows == [["4MB", "1GB"]]
    # Local to the query's transaction: the pooled connection keeps the server's own settings.
    with psycopg.connect(postgres_warehouse.url) as conn:
        assert conn.execute("SHOW temp_file_limit").fetchone() == ("-1",)
