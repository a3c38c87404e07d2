"""End-to-end fixtures for the data-plane endpoints (issue 5): real gateways, real warehouses.

Every engine holds the same data: the demo rows of `gateway.service.demo.dataset` (two tenants, `tenant_id`
1 and 2, sharing `orders`, `customers` and `products`), plus one order of tenant 1 whose `region` is a
SQL-injection attempt, so that an injected value can be shown to come back as a plain literal.

- DuckDB: the demo file itself (`create_demo_database`), opened read-only by the gateway.
- PostgreSQL: a throw-away database (`tests.conftest.postgres_databases`) loaded with the same rows.
- ClickHouse: a database on the server of `tests.warehouse.conftest.clickhouse_server`.

Each engine answers direct queries (`Engine.rows`) with its own driver, so that every answer of the
gateway is compared with what the warehouse returns for the expected predicate. Tenants are onboarded
per test or per module with random slugs, from the demo's onboarding bodies (`demo_tenants`).
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

import duckdb
import httpx
import psycopg
import pytest

from gateway.service.demo.dataset import (
    CUSTOMERS_COLUMNS,
    ORDERS_COLUMNS,
    PRODUCTS_COLUMNS,
    create_demo_database,
    demo_rows,
    demo_tenants,
)
from tests.support.guests import App, Gateway, Servers, assert_api_error
from tests.support.services import PostgresDatabases
from tests.warehouse.conftest import clickhouse_http, clickhouse_server

__all__ = ["clickhouse_server"]  # the session's ClickHouse (a fixture, re-exported for this package)

ENGINES: Final = ("duckdb", "postgres", "clickhouse")
CHART_DATA: Final = "/api/v1/chart/data"
QUERY: Final = "/api/v1/query"
# An order of tenant 1 whose region is an injection attempt: asked for as a literal, it is the only match.
INJECTED_ORDER_ID: Final = 900_001
INJECTED_REGION: Final = "Europe' OR tenant_id = 2 OR '1'='1"
# The columns of the "All orders" chart, in order: every row of the dataset, one per order.
ALL_ORDERS_COLUMNS: Final = ("order_id", "tenant_id", "region", "status", "amount")
TABLES: Final = {"orders": ORDERS_COLUMNS, "customers": CUSTOMERS_COLUMNS, "products": PRODUCTS_COLUMNS}


def demo_data() -> dict[str, list[tuple[Any, ...]]]:
    customers, products, orders = demo_rows()
    first = orders[0]
    injected = (INJECTED_ORDER_ID, 1, first[2], first[3], first[4], first[5], INJECTED_REGION, *first[7:])
    return {"customers": customers, "products": products, "orders": [*orders, injected]}


# ------------------------------------------------------------------------------------ comparisons


def norm(value: Any) -> Any:
    """One value as both sides can agree on: numbers as floats rounded to 6 places, dates as ISO text."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float | Decimal):
        return round(float(value), 6)
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [norm(v) for v in value]
    return str(value)


def norm_rows(rows: Sequence[Sequence[Any]], *, ordered: bool = False) -> list[list[Any]]:
    result = [[norm(v) for v in row] for row in rows]
    return result if ordered else sorted(result, key=repr)


# ---------------------------------------------------------------------------------------- engines


@dataclass
class Engine:
    """One warehouse holding the demo rows, as the gateway sees it and as a direct client reads it."""

    name: str
    dialect: str
    url: str  # the warehouse URL given to the gateway
    schema: str  # qualifies the tables: main / public / the ClickHouse database
    run: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]] = field(repr=False)

    def table(self, name: str) -> str:
        return f"{self.schema}.{name}"

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """A direct query; `{orders}` etc. name the tables, `?` binds a parameter."""
        return self.run(sql.format(**{t: self.table(t) for t in TABLES}), params)

    def all_orders(self, predicate: str = "1 = 1", *params: Any) -> list[list[Any]]:
        """What the "All orders" chart must return under `predicate` (the full RLS predicate)."""
        columns = ", ".join(ALL_ORDERS_COLUMNS)
        return norm_rows(self.rows(f"SELECT {columns} FROM {{orders}} WHERE {predicate}", *params))

    def count(self, table: str = "orders") -> int:
        return int(self.rows(f"SELECT count(*) FROM {{{table}}}")[0][0])

    def fingerprint(self, table: str = "orders") -> tuple[Any, ...]:
        """Row count and a checksum of `orders`: unchanged means nothing was written."""
        return tuple(
            norm(v) for v in self.rows("SELECT count(*), sum(amount), max(order_id) FROM {orders}")[0]
        )

    def tables(self) -> list[str]:
        """The names of the tables and views in the engine's schema."""
        sql = (
            "SELECT name FROM system.tables WHERE database = ?"
            if self.name == "clickhouse"
            else "SELECT table_name FROM information_schema.tables WHERE table_schema = ?"
        )
        return [str(row[0]) for row in self.run(sql, [self.schema])]

    def copy_orders(self) -> str:
        """A fresh copy of `orders` under a new name (PostgreSQL and ClickHouse), qualified."""
        name = self.table(f"orders_{secrets.token_hex(4)}")
        if self.name == "clickhouse":
            engine = "ENGINE = MergeTree ORDER BY order_id"
            self.run(f"CREATE TABLE {name} {engine} AS SELECT * FROM {self.table('orders')}", ())
        else:
            self.run(f"CREATE TABLE {name} AS SELECT * FROM {self.table('orders')}", ())
        return name


def _duckdb_runner(path: Path) -> Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]:
    def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        # Read-only, like the gateway: several processes may then hold the file at once.
        with duckdb.connect(str(path), read_only=True) as conn:
            cursor = conn.execute(sql, list(params))
            return list(cursor.fetchall()) if cursor.description else []

    return run


def _postgres_runner(url: str) -> Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]:
    def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as conn:
            # Without parameters, `%` in the SQL is left alone.
            bound = (sql.replace("?", "%s"), list(params)) if params else (sql, None)
            cursor = conn.execute(*bound)
            return list(cursor.fetchall()) if cursor.description else []

    return run


def clickhouse_literal(value: Any) -> str:
    """A value as a ClickHouse literal (the test server, 18.16, has no query parameters)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"no literal for {value!r}")
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def clickhouse_run(server: str, sql: str, params: Sequence[Any] = (), timeout: float = 30.0) -> list[Any]:
    """A statement over ClickHouse's HTTP interface, `?` replaced by escaped literals; numbers as floats."""
    values = iter(params)
    sql = re.sub(r"\?", lambda _: clickhouse_literal(next(values)), sql)
    is_select = sql.lstrip().upper().startswith(("SELECT", "WITH"))
    body = (sql + " FORMAT JSONCompact") if is_select else sql
    url = clickhouse_http(server) + "?output_format_json_quote_64bit_integers=0"
    request = urllib.request.Request(url, data=body.encode(), method="POST")  # noqa: S310 (a test server)
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        text = response.read().decode()
    if not is_select:
        return []
    answer = json.loads(text)
    numeric = [re.match(r"(Nullable\()?(U?Int|Float|Decimal)", c["type"]) is not None for c in answer["meta"]]
    return [
        tuple(
            float(v) if is_number and v is not None else v for v, is_number in zip(row, numeric, strict=True)
        )
        for row in answer["data"]
    ]


@pytest.fixture(scope="session")
def duckdb_engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = create_demo_database(tmp_path_factory.mktemp("dataplane-duckdb") / "demo.duckdb")
    injected = demo_data()["orders"][-1]
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"INSERT INTO main.orders VALUES ({', '.join('?' * len(injected))})", list(injected))
        conn.execute("CHECKPOINT")
    return Engine("duckdb", "duckdb", f"duckdb://{path}", "main", _duckdb_runner(path))


PG_TYPES: Final = {"INTEGER": "integer", "DATE": "date", "VARCHAR": "text"}


def _pg_type(declared: str) -> str:
    return PG_TYPES.get(declared, "numeric" + declared.removeprefix("DECIMAL"))


@pytest.fixture(scope="session")
def postgres_engine(postgres_databases: PostgresDatabases) -> Engine:
    url = postgres_databases.create()
    data = demo_data()
    with psycopg.connect(url, autocommit=True) as conn:
        for table, columns in TABLES.items():
            conn.execute(
                f"CREATE TABLE public.{table} ("
                + ", ".join(f"{name} {_pg_type(kind)} NOT NULL" for name, kind in columns)
                + ")"
            )
            with conn.cursor().copy(f"COPY public.{table} FROM STDIN") as copy:
                for row in data[table]:
                    copy.write_row(row)
    return Engine("postgres", "postgres", url, "public", _postgres_runner(url))


def _json(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else str(value)


CH_TYPES: Final = {"INTEGER": "Int32", "DATE": "Date", "VARCHAR": "String"}


@pytest.fixture(scope="session")
def clickhouse_engine(clickhouse_server: str) -> Iterator[Engine]:
    database = f"gw_dp_{secrets.token_hex(6)}"
    clickhouse_run(clickhouse_server, f"CREATE DATABASE {database}")
    data = demo_data()
    for table, columns in TABLES.items():
        definition = ", ".join(
            f"{name} {CH_TYPES.get(kind, 'Decimal' + kind.removeprefix('DECIMAL'))}" for name, kind in columns
        )
        clickhouse_run(
            clickhouse_server,
            f"CREATE TABLE {database}.{table} ({definition}) ENGINE = MergeTree ORDER BY {columns[0][0]}",
        )
        names = [name for name, _ in columns]
        lines = "\n".join(
            json.dumps(dict(zip(names, row, strict=True)), default=_json) for row in data[table]
        )
        clickhouse_run(clickhouse_server, f"INSERT INTO {database}.{table} FORMAT JSONEachRow\n{lines}")

    def run(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return clickhouse_run(clickhouse_server, sql, params)

    try:
        yield Engine("clickhouse", "clickhouse", f"{clickhouse_server}/{database}", database, run)
    finally:
        clickhouse_run(clickhouse_server, f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each warehouse in turn, for the tests every connector must pass."""
    return request.getfixturevalue(f"{request.param}_engine")  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------- tenants


@dataclass
class DataTenant:
    """A tenant onboarded from the demo bodies on one engine; `tenant_id` is its rows' `tenant_id`."""

    slug: str
    tenant_id: int
    engine: Engine
    app: App
    charts: dict[str, dict[str, Any]]  # by title
    dashboard: dict[str, Any]  # every chart but "Hidden"
    other_dashboard: dict[str, Any]  # only "Hidden"
    datasets: dict[str, dict[str, Any]]
    filters: list[dict[str, Any]]

    def chart(self, title: str) -> Any:
        return self.charts[title]["id"]


ALL_ORDERS_CHART: Final = {
    "title": "All orders",
    "dataset": "orders",
    "viz_type": "table",
    "query": {"groupby": list(ALL_ORDERS_COLUMNS), "order_by": [{"column": "order_id"}]},
}
HIDDEN_CHART: Final = {
    "title": "Hidden",
    "dataset": "orders",
    "viz_type": "table",
    "query": {"groupby": list(ALL_ORDERS_COLUMNS)},
}


class DataGateway(Gateway):
    """The guest-token helper plus onboarding of demo tenants and the two data endpoints."""

    def onboard_demo(
        self,
        engine: Engine,
        tenant_id: int,
        *,
        filters: Sequence[dict[str, Any]] | None = None,
        extra_filters: Sequence[dict[str, Any]] = (),
        warehouse_url: str | None = None,
        tables: dict[str, str] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> DataTenant:
        """Demo tenant `tenant_id` (1 or 2) on `engine`, under a random slug.

        `filters` replaces the demo's base filter `tenant_id = N`; `extra_filters` adds to it.
        `tables` maps a dataset name to another table; `warehouse_url` replaces the engine's URL.
        """
        spec = next(t for t in demo_tenants("/nowhere.duckdb") if t.tenant_id == tenant_id)
        slug = f"{spec.slug}-{secrets.token_hex(4)}"
        self.create(
            "/api/v1/tenants",
            {**spec.tenant, "slug": slug, "dialect": engine.dialect, **(settings or {})},
        )
        app = self.new_app(slug)
        self.create(
            f"/api/v1/tenants/{slug}/warehouses",
            {"name": spec.warehouse["name"], "url": warehouse_url or engine.url},
        )
        datasets = {}
        for body in spec.datasets:
            table = (tables or {}).get(body["name"], engine.table(body["name"]))
            datasets[body["name"]] = self.create(f"/api/v1/tenants/{slug}/datasets", {**body, "table": table})
        made_filters = [
            self.create(f"/api/v1/tenants/{slug}/filters", body)
            for body in [*(spec.filters if filters is None else filters), *extra_filters]
        ]
        charts = {
            body["title"]: self.create(f"/api/v1/tenants/{slug}/charts", body)
            for body in [*spec.charts, ALL_ORDERS_CHART, HIDDEN_CHART]
        }
        shown = [charts[title]["id"] for title in [*spec.dashboard_charts, ALL_ORDERS_CHART["title"]]]
        dashboard = self.create(f"/api/v1/tenants/{slug}/dashboards", {**spec.dashboard, "charts": shown})
        other = self.create(
            f"/api/v1/tenants/{slug}/dashboards", {"title": "Other", "charts": [charts["Hidden"]["id"]]}
        )
        return DataTenant(slug, tenant_id, engine, app, charts, dashboard, other, datasets, made_filters)

    def guest(
        self,
        tenant: DataTenant,
        *,
        resources: list[dict[str, Any]] | None = None,
        rls: list[dict[str, Any]] | None = None,
        username: str = "alice",
        roles: Sequence[str] = (),
        datasets: Sequence[str] = (),
        attributes: dict[str, Any] | None = None,
    ) -> str:
        """A guest token of `tenant`: its dashboard (or `resources`), plus `datasets` as dataset resources."""
        listed = resources if resources is not None else [{"type": "dashboard", "id": tenant.dashboard["id"]}]
        listed = [*listed, *({"type": "dataset", "id": name} for name in datasets)]
        user: dict[str, Any] = {"username": username}
        if roles:
            user["roles"] = list(roles)
        if attributes is not None:
            user["attributes"] = attributes
        body = {"user": user, "resources": listed, "rls": rls or []}
        response = self.mint_response(self.access_token(tenant.app), body)
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def chart_data(
        self, token: str | None, body: dict[str, Any], *, header: str = "bearer", timeout: float = 30
    ) -> httpx.Response:
        return self.http.post(CHART_DATA, json=body, headers=guest_headers(token, header), timeout=timeout)

    def query(
        self, token: str | None, sql: str, *, row_limit: int | None = None, timeout: float = 30
    ) -> httpx.Response:
        body: dict[str, Any] = {"sql": sql}
        if row_limit is not None:
            body["row_limit"] = row_limit
        return self.http.post(QUERY, json=body, headers=guest_headers(token, "bearer"), timeout=timeout)


def guest_headers(token: str | None, header: str) -> dict[str, str]:
    if token is None:
        return {}
    return {"Authorization": f"Bearer {token}"} if header == "bearer" else {"X-GuestToken": token}


# -------------------------------------------------------------------------------------- responses


def data_of(response: httpx.Response) -> dict[str, Any]:
    """A 200 data answer, checked against the contract's shape; returns the body."""
    assert response.status_code == 200, f"expected 200, got {response.status_code}: {response.text}"
    assert "no-store" in response.headers.get("cache-control", ""), dict(response.headers)
    body: dict[str, Any] = response.json()
    assert {"columns", "rows", "rowcount", "cached", "query_ms"} <= set(body), body.keys()
    assert all(set(c) >= {"name", "type"} for c in body["columns"]), body["columns"]
    assert isinstance(body["rows"], list) and body["rowcount"] == len(body["rows"])
    assert all(len(row) == len(body["columns"]) for row in body["rows"])
    assert isinstance(body["cached"], bool)
    assert isinstance(body["query_ms"], int | float) and body["query_ms"] >= 0
    return body


def rows_of(response: httpx.Response, *, ordered: bool = False) -> list[list[Any]]:
    return norm_rows(data_of(response)["rows"], ordered=ordered)


def refused(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """A refusal with this status (and code): an error object and no rows anywhere in the body."""
    error = assert_api_error(response, status, code)
    body = response.json()
    assert "rows" not in body and "columns" not in body, f"a refusal carried data: {response.text}"
    return error


# ---------------------------------------------------------------------------------------- servers


@pytest.fixture(scope="module")
def gw(servers: Servers) -> DataGateway:
    """One gateway (SQLite registry, the real Redis under a fresh prefix) shared by a module's tests."""
    return servers.start(DataGateway)


@pytest.fixture(scope="module")
def pairs(gw: DataGateway) -> Callable[[Engine], tuple[DataTenant, DataTenant]]:
    """The module's two demo tenants (tenant_id 1 and 2) on an engine, onboarded once per engine."""
    made: dict[str, tuple[DataTenant, DataTenant]] = {}

    def pair(engine: Engine) -> tuple[DataTenant, DataTenant]:
        if engine.name not in made:
            made[engine.name] = (gw.onboard_demo(engine, 1), gw.onboard_demo(engine, 2))
        return made[engine.name]

    return pair
