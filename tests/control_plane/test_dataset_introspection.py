"""Datasets registered from a table reference alone (issue 5): their columns read from the warehouse.

The registry runs on SQLite and PostgreSQL; the warehouses are a real DuckDB file and a real
PostgreSQL database, read through the data plane's connectors as the running gateway does. Each
answer is compared with the warehouse's own information_schema.
"""

from __future__ import annotations

import doctest
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit, urlunsplit

import duckdb
import httpx
import psycopg
import pytest

from gateway.bus.memory import InProcessBus
from gateway.config import Config
from gateway.http.bodies import validate
from gateway.service.introspection import warehouse_introspection
from gateway.warehouse import ConnectorOptions, Connectors
from tenants import introspection, schemas
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.errors import RegistryError
from tenants.registry import IdempotencyKey, Outcome, Registry
from tenants.resources import DATASETS
from tenants.store import RegistryStore
from tests.conftest import Backend
from tests.support.guests import Servers
from tests.support.services import SECRET_KEY, PostgresDatabases, free_port
from tests.warehouse.conftest import clickhouse_query, clickhouse_server

__all__ = ["clickhouse_server"]  # the session's ClickHouse (a fixture, used here)

pytestmark = pytest.mark.anyio

SALES_DDL: Final = {
    "duckdb": (
        "id INTEGER, region VARCHAR, amount DECIMAL(10,2), price DOUBLE, sold_on DATE, "
        "sold_at TIMESTAMP, paid BOOLEAN, units BIGINT, tags VARCHAR[]"
    ),
    "postgres": (
        "id integer, region text, amount numeric(10,2), price double precision, sold_on date, "
        "sold_at timestamptz, paid boolean, units bigint, note varchar(20)"
    ),
}
SALES_ROWS: Final = [(1, "EU", 10.5), (2, "US", 20.25), (3, "EU", 7.0)]
PG_PASSWORD: Final = "pw-" + secrets.token_hex(8)


@dataclass(frozen=True)
class Warehouse:
    """A warehouse holding `sales`: the URL the registry gets, and its own idea of the columns."""

    dialect: str
    url: str
    table: str
    columns: list[dict[str, str]]


def duckdb_columns(path: Path, table: str) -> list[dict[str, str]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [table],
        ).fetchall()
    return [{"name": name, "type": kind} for name, kind in rows]


def postgres_columns(url: str, table: str) -> list[dict[str, str]]:
    """PostgreSQL's names of the types (udt_name: int4, float8, ...) as its protocol reports them."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT column_name, udt_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position",
            [table],
        ).fetchall()
    return [{"name": name, "type": kind} for name, kind in rows]


def postgres_run(url: str, sql: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


@pytest.fixture(scope="module")
def duck(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    path = tmp_path_factory.mktemp("introspection") / "sales.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"CREATE TABLE main.sales ({SALES_DDL['duckdb']})")
        for row in SALES_ROWS:
            conn.execute("INSERT INTO main.sales (id, region, amount) VALUES (?, ?, ?)", list(row))
        conn.execute("CHECKPOINT")
    return Warehouse("duckdb", f"duckdb://{path}", "main.sales", duckdb_columns(path, "sales"))


@dataclass(frozen=True)
class PostgresWarehouse:
    """A warehouse database, administered as the superuser and read by a login with a password."""

    admin_url: str
    role: str

    def sales(self) -> Warehouse:
        """A fresh `sales` table (tests alter it), as the registry sees it: the reader's URL."""
        table = "sales_" + secrets.token_hex(4)
        postgres_run(self.admin_url, f"CREATE TABLE public.{table} ({SALES_DDL['postgres']})")
        postgres_run(
            self.admin_url,
            f"INSERT INTO public.{table} (id, region, amount) VALUES (1, 'EU', 10.5), (2, 'US', 20.25)",
        )
        columns = postgres_columns(self.admin_url, table)
        return Warehouse("postgres", self.url(), f"public.{table}", columns)

    def url(self, *, port: int | None = None) -> str:
        parts = urlsplit(self.admin_url)
        netloc = f"{self.role}:{PG_PASSWORD}@{parts.hostname}:{port or parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))


@pytest.fixture(scope="module")
def pg(postgres_databases: PostgresDatabases) -> PostgresWarehouse:
    url = postgres_databases.create()
    role = "reader_" + secrets.token_hex(4)
    postgres_run(url, f"CREATE ROLE {role} LOGIN PASSWORD '{PG_PASSWORD}'")
    postgres_run(url, f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {role}")
    return PostgresWarehouse(url, role)


@pytest.fixture
async def backend(database_url: str) -> AsyncIterator[Backend]:
    """The registry in-process, wired to the warehouses as `gateway.service.app` wires it."""
    engine = create_engine(Config.from_env({"GATEWAY_DATABASE_URL": database_url}).database_url)
    await migrate(engine)
    box = SecretBox(SECRET_KEY)
    bus = InProcessBus()
    sessions = session_factory(engine)
    connectors = Connectors(ConnectorOptions(connect_timeout=2.0, cancel_grace=1.0, pool_min_size=0))
    registry = Registry(sessions, box, bus, introspect=warehouse_introspection(connectors))
    yield Backend(engine, registry, RegistryStore(sessions, box), bus.subscribe("config"))
    await connectors.aclose()
    await bus.aclose()
    await engine.dispose()


async def tenant_with_warehouse(backend: Backend, warehouse: Warehouse) -> str:
    slug = "t" + secrets.token_hex(4)
    await backend.create("tenants", None, {"slug": slug, "name": slug, "dialect": warehouse.dialect})
    await backend.create("warehouses", slug, {"name": "wh", "url": warehouse.url})
    await backend.next_event()
    await backend.next_event()
    return slug


async def create_dataset(backend: Backend, slug: str, body: dict[str, Any], **kwargs: Any) -> Outcome:
    return await backend.registry.create(
        DATASETS,
        slug,
        validate(schemas.DatasetCreate, {"name": "sales", "warehouse": "wh", **body}),
        location_prefix="/x",
        **kwargs,
    )


def body_of(outcome: Outcome) -> dict[str, Any]:
    assert outcome.body is not None
    return outcome.body


async def nothing_stored(backend: Backend, slug: str) -> None:
    tenant = await backend.store.tenant(slug)
    assert await backend.store.datasets(tenant.id) == []
    assert tenant.registry_version == 2  # created, then the warehouse: no write since


# ----------------------------------------------------------------------------------- creation


async def test_a_duckdb_table_alone_gets_its_columns(backend: Backend, duck: Warehouse) -> None:
    slug = await tenant_with_warehouse(backend, duck)
    made = await create_dataset(backend, slug, {"table": duck.table})
    assert made.status == 201
    assert body_of(made)["columns"] == duck.columns
    assert [c["name"] for c in duck.columns][:3] == ["id", "region", "amount"]  # the table was read
    tenant = await backend.store.tenant(slug)
    stored = await backend.store.dataset(tenant.id, "sales")
    assert [{"name": c.name, "type": c.type} for c in stored.columns] == duck.columns
    assert (await backend.next_event()).type == "dataset.created"


async def test_a_postgres_table_alone_gets_its_columns(backend: Backend, pg: PostgresWarehouse) -> None:
    warehouse = pg.sales()
    slug = await tenant_with_warehouse(backend, warehouse)
    made = await create_dataset(backend, slug, {"table": warehouse.table})
    assert body_of(made)["columns"] == warehouse.columns
    assert [c["type"] for c in warehouse.columns][:4] == ["int4", "text", "numeric", "float8"]


async def test_given_columns_are_kept_without_asking_the_warehouse(backend: Backend) -> None:
    nowhere = Warehouse("postgres", f"postgresql://u:secret@127.0.0.1:{free_port()}/db", "public.t", [])
    slug = await tenant_with_warehouse(backend, nowhere)
    made = await create_dataset(
        backend, slug, {"table": "public.t", "columns": [{"name": "a", "type": "INT"}]}
    )
    assert body_of(made)["columns"] == [{"name": "a", "type": "INT"}]


async def test_a_virtual_dataset_gets_the_columns_of_its_query(backend: Backend, duck: Warehouse) -> None:
    slug = await tenant_with_warehouse(backend, duck)
    sql = "SELECT region, SUM(amount) AS revenue, COUNT(*) AS n FROM main.sales GROUP BY region -- per region"
    made = await create_dataset(backend, slug, {"sql": sql})
    columns = body_of(made)["columns"]
    assert [c["name"] for c in columns] == ["region", "revenue", "n"]
    assert columns[0]["type"] == "VARCHAR" and columns[2]["type"] == "BIGINT"


def test_the_zero_row_query_example_holds() -> None:
    result = doctest.testmod(introspection)
    assert result.attempted > 0 and result.failed == 0


async def test_an_idempotent_replay_does_not_ask_the_warehouse_again(
    backend: Backend, duck: Warehouse
) -> None:
    slug = await tenant_with_warehouse(backend, duck)
    key = IdempotencyKey("sales-1", "hash-of-the-body")
    first = await create_dataset(backend, slug, {"table": duck.table}, idempotency=key)
    again = await create_dataset(backend, slug, {"table": duck.table}, idempotency=key)
    assert again == first


async def test_a_clickhouse_table_alone_gets_its_columns(backend: Backend, clickhouse_server: str) -> None:
    database = "gw_intro_" + secrets.token_hex(4)
    clickhouse_query(clickhouse_server, f"CREATE DATABASE {database}")
    try:
        clickhouse_query(
            clickhouse_server,
            f"CREATE TABLE {database}.sales (id Int32, region String, amount Decimal(10, 2), "
            "sold_on Date, note Nullable(String)) ENGINE = MergeTree ORDER BY id",
        )
        described = clickhouse_query(
            clickhouse_server,
            f"SELECT name, type FROM system.columns WHERE database = '{database}' AND table = 'sales' "
            "FORMAT TabSeparated",
        )
        expected = [
            dict(zip(("name", "type"), line.split("\t"), strict=True)) for line in described.splitlines()
        ]
        warehouse = Warehouse("clickhouse", f"{clickhouse_server}/{database}", f"{database}.sales", expected)
        slug = await tenant_with_warehouse(backend, warehouse)

        made = await create_dataset(backend, slug, {"table": warehouse.table})
        assert body_of(made)["columns"] == expected and len(expected) == 5

        for missing in (f"{database}.gone", "no_such_database.sales"):
            with pytest.raises(RegistryError) as refused:
                await create_dataset(backend, slug, {"name": "other", "table": missing})
            assert (refused.value.status, refused.value.code) == (422, "table_not_found")
    finally:
        clickhouse_query(clickhouse_server, f"DROP DATABASE IF EXISTS {database}")


# ----------------------------------------------------------------------------------- failures


async def test_a_missing_table_is_refused_and_nothing_is_stored(backend: Backend, duck: Warehouse) -> None:
    slug = await tenant_with_warehouse(backend, duck)
    for table in ("main.no_such_table", "no_such_schema.sales"):
        with pytest.raises(RegistryError) as refused:
            await create_dataset(backend, slug, {"table": table})
        assert (refused.value.status, refused.value.code, refused.value.field) == (
            422,
            "table_not_found",
            "table",
        )
    with pytest.raises(RegistryError) as refused:
        await create_dataset(backend, slug, {"sql": "SELECT * FROM main.gone"})
    assert (refused.value.code, refused.value.field) == ("table_not_found", "sql")
    await nothing_stored(backend, slug)


async def test_a_missing_postgres_table_is_refused(backend: Backend, pg: PostgresWarehouse) -> None:
    warehouse = pg.sales()
    slug = await tenant_with_warehouse(backend, warehouse)
    with pytest.raises(RegistryError) as refused:
        await create_dataset(backend, slug, {"table": "public.missing_" + secrets.token_hex(3)})
    assert (refused.value.status, refused.value.code) == (422, "table_not_found")
    await nothing_stored(backend, slug)


async def test_an_unreachable_warehouse_is_a_502_without_credentials(backend: Backend) -> None:
    password = "pw-" + secrets.token_hex(8)
    down = Warehouse("postgres", f"postgresql://reader:{password}@127.0.0.1:{free_port()}/shop", "", [])
    slug = await tenant_with_warehouse(backend, down)
    with pytest.raises(RegistryError) as refused:
        await create_dataset(backend, slug, {"table": "public.orders"})
    assert (refused.value.status, refused.value.code) == (502, "warehouse_error")
    assert password not in refused.value.message and "reader" not in refused.value.message
    assert "SELECT" not in refused.value.message
    await nothing_stored(backend, slug)


async def test_invalid_sources_are_refused_before_the_warehouse_is_asked(backend: Backend) -> None:
    down = Warehouse("postgres", f"postgresql://u:p@127.0.0.1:{free_port()}/db", "", [])
    slug = await tenant_with_warehouse(backend, down)
    for body, field in (
        ({"table": "orders; DROP TABLE x"}, "table"),
        ({"table": "pg_catalog.pg_authid"}, "table"),
        ({"sql": "DELETE FROM orders"}, "sql"),
        ({"sql": "SELECT 1; SELECT 2"}, "sql"),
        ({"table": "public.t", "warehouse": "other"}, "warehouse"),
    ):
        with pytest.raises(RegistryError) as refused:
            await create_dataset(backend, slug, body)
        assert (refused.value.status, refused.value.field) == (422, field), body
    await nothing_stored(backend, slug)


# ----------------------------------------------------------------------------------- refresh


async def test_refresh_reads_a_new_column_and_publishes_the_change(
    backend: Backend, pg: PostgresWarehouse
) -> None:
    warehouse, admin_url = pg.sales(), pg.admin_url
    slug = await tenant_with_warehouse(backend, warehouse)
    made = await create_dataset(backend, slug, {"table": warehouse.table})
    await backend.next_event()
    table = warehouse.table.split(".")[1]
    postgres_run(admin_url, f"ALTER TABLE public.{table} ADD COLUMN channel text")

    refreshed = await backend.registry.refresh_columns(slug, "sales", if_match=made.etag)

    assert refreshed.status == 200 and refreshed.etag != made.etag and refreshed.body is not None
    assert refreshed.body["columns"] == postgres_columns(admin_url, table)
    assert refreshed.body["columns"][-1] == {"name": "channel", "type": "text"}
    event = await backend.next_event()
    assert (event.type, event.payload["ref"]) == ("dataset.updated", "sales")
    tenant = await backend.store.tenant(slug)
    assert "channel" in [c.name for c in (await backend.store.dataset(tenant.id, "sales")).columns]
    assert tenant.registry_version == 4  # tenant, warehouse, dataset, refresh

    with pytest.raises(RegistryError) as stale:
        await backend.registry.refresh_columns(slug, "sales", if_match=made.etag)
    assert stale.value.status == 412


async def test_refresh_of_a_dropped_table_changes_nothing(backend: Backend, pg: PostgresWarehouse) -> None:
    warehouse = pg.sales()
    slug = await tenant_with_warehouse(backend, warehouse)
    made = await create_dataset(backend, slug, {"table": warehouse.table})
    postgres_run(pg.admin_url, f"DROP TABLE {warehouse.table}")
    with pytest.raises(RegistryError) as refused:
        await backend.registry.refresh_columns(slug, "sales", if_match=None)
    assert refused.value.code == "table_not_found"
    assert (await backend.registry.get(DATASETS, slug, "sales")).etag == made.etag


# ----------------------------------------------------------------------------------- over HTTP


def refused_over_http(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code and error["message"], response.text
    return error


def test_over_http_an_introspected_dataset_serves_chart_data(
    servers: Servers, duck: Warehouse, pg: PostgresWarehouse
) -> None:
    """The whole path: onboard with a table alone, chart it, mint, read the rows; then refresh
    and the failure answers, as an operator's script sees them."""
    gw = servers.start()
    slug = "t" + secrets.token_hex(4)
    gw.create("/api/v1/tenants", {"slug": slug, "name": slug, "dialect": "duckdb"})
    gw.create(f"/api/v1/tenants/{slug}/warehouses", {"name": "wh", "url": duck.url})
    datasets = f"/api/v1/tenants/{slug}/datasets"
    dataset = gw.create(datasets, {"name": "sales", "warehouse": "wh", "table": duck.table})
    assert dataset["columns"] == duck.columns
    chart = gw.create(
        f"/api/v1/tenants/{slug}/charts",
        {
            "title": "Revenue",
            "dataset": "sales",
            "query": {
                "metrics": [{"aggregate": "SUM", "column": "amount", "label": "revenue"}],
                "groupby": ["region"],
            },
        },
    )
    dashboard = gw.create(f"/api/v1/tenants/{slug}/dashboards", {"title": "Board", "charts": [chart["id"]]})
    app = gw.new_app(slug)
    minted = gw.mint_response(
        gw.access_token(app),
        {
            "user": {"username": "alice"},
            "resources": [{"type": "dashboard", "id": dashboard["id"]}],
            "rls": [],
        },
    )
    assert minted.status_code == 200, minted.text
    answer = gw.http.post(
        "/api/v1/chart/data",
        json={"chart_id": chart["id"]},
        headers={"Authorization": f"Bearer {minted.json()['token']}"},
    )
    assert answer.status_code == 200, answer.text
    assert sorted(tuple(row) for row in answer.json()["rows"]) == [("EU", 17.5), ("US", 20.25)]

    # Refresh over HTTP: If-Match honoured, a new ETag.
    item = f"{datasets}/sales"
    etag = gw.admin.get(item).headers["etag"]
    refused_over_http(
        gw.admin.post(item + "/refresh-columns", headers={"If-Match": '"stale"'}), 412, "precondition_failed"
    )
    refreshed = gw.admin.post(item + "/refresh-columns", headers={"If-Match": etag})
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["columns"] == duck.columns and refreshed.headers["etag"] != etag

    # Failures as JSON errors: a missing table, an unreachable warehouse (its password never shown).
    error = refused_over_http(
        gw.admin.post(datasets, json={"name": "gone", "warehouse": "wh", "table": "main.gone"}),
        422,
        "table_not_found",
    )
    assert error["field"] == "table"
    gw.create(f"/api/v1/tenants/{slug}/warehouses", {"name": "down", "url": pg.url(port=free_port())})
    response = gw.admin.post(datasets, json={"name": "lost", "warehouse": "down", "table": "public.sales"})
    refused_over_http(response, 502, "warehouse_error")
    assert PG_PASSWORD not in response.text
    assert [d["name"] for d in gw.admin.get(datasets).json()["items"]] == ["sales"]
