"""Real warehouses for the connector tests: a DuckDB file, a throw-away PostgreSQL database and a
ClickHouse server.

ClickHouse is found at GATEWAY_TEST_CLICKHOUSE_URL (default `clickhouse+http://127.0.0.1:8123`); when
nothing answers there, a `clickhouse-server` (Debian package) is started for the session on free
ports under a temporary directory, and stopped at the end. A missing server is an error, not a skip.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import psycopg
import pytest

from gateway.service.demo.dataset import create_demo_database
from gateway.warehouse import ConnectorOptions
from tests.support.services import PostgresDatabases, free_port

CLICKHOUSE_URL = os.environ.get("GATEWAY_TEST_CLICKHOUSE_URL", "clickhouse+http://127.0.0.1:8123")
CLICKHOUSE_CONFIG = "/etc/clickhouse-server/config.xml"
ITEMS = 3000  # rows in every engine's `items` table
# Short waits so the timeout tests stay quick.
OPTIONS = ConnectorOptions(connect_timeout=2.0, cancel_grace=1.0, pool_min_size=0, pool_max_size=4)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Warehouse:
    """One engine prepared for the shared contract tests."""

    name: str
    url: str
    table: str  # the `items` table, qualified
    slow_sql: str  # runs far longer than any test timeout
    types: dict[str, str]  # expected column types of `items`
    repeat_x: str  # a string of `{size}` x's (a multiple of 16), in the engine's SQL

    def big_values_sql(self, size: int, rows: int) -> str:
        """`rows` rows, each one column holding a string of `size` x's."""
        value = self.repeat_x.format(size=size)
        return f"SELECT {value} AS big FROM (SELECT id FROM {self.table} ORDER BY id LIMIT {rows}) AS t"


@pytest.fixture(scope="session")
def demo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_demo_database(tmp_path_factory.mktemp("demo") / "demo.duckdb")


@pytest.fixture(scope="session")
def duckdb_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    path = tmp_path_factory.mktemp("duckdb") / "items.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "CREATE TABLE main.items AS SELECT i::INTEGER AS id, 'item ' || i AS name,"
            " (i / 100)::DECIMAL(10,2) AS price, DATE '2024-01-01' + i::INTEGER AS day,"
            f" TIMESTAMP '2024-01-01 10:30:00' AS created FROM range(1, {ITEMS + 1}) t(i)"
        )
    return Warehouse(
        "duckdb",
        f"duckdb://{path}",
        "main.items",
        "SELECT count(*) FROM range(100000000) a, range(100000000) b WHERE a.range + b.range = -1",
        {"id": "INTEGER", "name": "VARCHAR", "price": "DECIMAL(10,2)", "day": "DATE", "created": "TIMESTAMP"},
        "repeat('x', {size})",
    )


@pytest.fixture(scope="session")
def postgres_warehouse(postgres_databases: PostgresDatabases) -> Warehouse:
    url = postgres_databases.create()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE public.items AS SELECT i::int AS id, 'item ' || i AS name,"
            " (i / 100.0)::numeric(10,2) AS price, DATE '2024-01-01' + i AS day,"
            " TIMESTAMP '2024-01-01 10:30:00' AS created"
            f" FROM generate_series(1, {ITEMS}) AS i"
        )
    return Warehouse(
        "postgres",
        url,
        "public.items",
        "SELECT pg_sleep(60)",
        {"id": "int4", "name": "text", "price": "numeric", "day": "date", "created": "timestamp"},
        "repeat('x', {size})",
    )


def clickhouse_http(url: str) -> str:
    parts = urlsplit(url)
    protocol = parts.scheme.removeprefix("clickhouse+")
    return f"{protocol}://{parts.hostname}:{parts.port or 8123}/"


def clickhouse_query(url: str, sql: str, timeout: float = 10.0) -> str:
    """A statement run as the default user, outside the connector (setup and checks)."""
    request = urllib.request.Request(clickhouse_http(url), data=sql.encode(), method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (a test server)
        return str(response.read().decode())


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(clickhouse_http(url) + "ping", timeout=1.0) as response:  # noqa: S310
            return bool(response.read().startswith(b"Ok."))
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="session")
def clickhouse_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a running ClickHouse: the configured one, or one started for this session."""
    if _answers(CLICKHOUSE_URL):
        yield CLICKHOUSE_URL
        return
    binary = shutil.which("clickhouse-server") or "/usr/sbin/clickhouse-server"
    if not Path(binary).exists():
        pytest.fail(
            f"no ClickHouse at {CLICKHOUSE_URL} and no clickhouse-server to start"
            " (apt-get install -y clickhouse-server)"
        )
    root = tmp_path_factory.mktemp("clickhouse")
    http_port = free_port()
    command = clickhouse_command(binary, root, http_port, free_port(), free_port())
    log = (root / "stdout.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"clickhouse+http://127.0.0.1:{http_port}"
    try:
        deadline = time.monotonic() + 30
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"clickhouse-server did not start; see {root}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def clickhouse_command(
    binary: str, root: Path, http_port: int, tcp_port: int, interserver_port: int
) -> list[str]:
    """The server with the packaged config, its data, logs and ports moved out of the way."""
    return [
        binary,
        f"--config-file={CLICKHOUSE_CONFIG}",
        "--",
        f"--path={root}/data/",
        f"--tmp_path={root}/tmp/",
        f"--user_files_path={root}/user_files/",
        f"--format_schema_path={root}/format_schemas/",
        f"--http_port={http_port}",
        f"--tcp_port={tcp_port}",
        f"--interserver_http_port={interserver_port}",
        "--listen_host=127.0.0.1",  # the packaged config also listens on ::1, absent in some containers
        f"--logger.log={root}/clickhouse-server.log",
        f"--logger.errorlog={root}/clickhouse-server.err.log",
        "--logger.console=0",
    ]


@pytest.fixture(scope="session")
def clickhouse_warehouse(clickhouse_server: str) -> Iterator[Warehouse]:
    database = f"gw_test_{secrets.token_hex(6)}"
    clickhouse_query(clickhouse_server, f"CREATE DATABASE {database}")
    clickhouse_query(
        clickhouse_server,
        f"CREATE TABLE {database}.items (id UInt32, name String, price Decimal(10, 2), day Date,"
        " created DateTime) ENGINE = MergeTree ORDER BY id",
    )
    clickhouse_query(
        clickhouse_server,
        f"INSERT INTO {database}.items SELECT number + 1, concat('item ', toString(number + 1)),"
        " CAST(toString(round((number + 1) / 100, 2)) AS Decimal(10, 2)), toDate('2024-01-01') + number + 1,"
        f" toDateTime('2024-01-01 10:30:00') FROM system.numbers LIMIT {ITEMS}",
    )
    try:
        yield Warehouse(
            "clickhouse",
            f"{clickhouse_server}/{database}",
            f"{database}.items",
            "SELECT count() FROM system.numbers WHERE number % 1000000007 = 1000000008",
            {
                "id": "UInt32",
                "name": "String",
                "price": "Decimal(10, 2)",
                "day": "Date",
                "created": "DateTime",
            },
            # ClickHouse 18 has no repeat(): 16 x's at a time.
            "arrayStringConcat(arrayMap(i -> 'xxxxxxxxxxxxxxxx', range(intDiv({size}, 16))))",
        )
    finally:
        clickhouse_query(clickhouse_server, f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(params=["duckdb", "postgres", "clickhouse"])
def warehouse(request: pytest.FixtureRequest) -> Warehouse:
    """Each engine in turn, for the tests every connector must pass."""
    return request.getfixturevalue(f"{request.param}_warehouse")  # type: ignore[no-any-return]
