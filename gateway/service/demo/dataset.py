"""The demo data set: a DuckDB file with two tenants' sales, and the registry entries that describe it.

`create_demo_database(path)` writes `main.customers`, `main.products` and `main.orders`, each with a
`tenant_id` column (1 = Acme, 2 = Globex); the same seed always gives the same rows.
`demo_tenants(path)` returns, per tenant, the bodies to POST to the onboarding API: the tenant, its
DuckDB warehouse, the three datasets, a base filter `tenant_id = N` on every dataset, four charts and
a dashboard. Nothing here does I/O at import time.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import duckdb

DEMO_SEED: Final = 20240101
DEMO_ORIGIN: Final = "http://localhost:8000"
WAREHOUSE_NAME: Final = "demo"
START: Final = datetime.date(2024, 1, 1)
DAYS: Final = 731  # 2024-01-01 .. 2025-12-31


@dataclass(frozen=True, slots=True)
class _TenantSpec:
    tenant_id: int
    slug: str
    name: str
    customers: int
    orders: int
    # Region -> relative weight: the two tenants' bar charts look different.
    regions: dict[str, int]
    categories: dict[str, tuple[str, ...]]
    growth: float  # revenue trend per year, for the line chart


TENANTS: Final = (
    _TenantSpec(
        1,
        "acme",
        "Acme Corporation",
        customers=160,
        orders=2400,
        regions={"North America": 5, "Europe": 3, "Asia Pacific": 2, "Latin America": 1},
        categories={
            "Hardware": ("Anvil", "Rocket skates", "Giant magnet", "Spring boots"),
            "Explosives": ("Dynamite kit", "Tornado seeds", "Earthquake pills"),
            "Gadgets": (
                "Portable hole",
                "Bird seed",
                "Batman outfit",
                "Jet-propelled unicycle",
                "Iron glove",
            ),
        },
        growth=0.35,
    ),
    _TenantSpec(
        2,
        "globex",
        "Globex Corporation",
        customers=110,
        orders=1600,
        regions={"Europe": 4, "North America": 2, "Asia Pacific": 3, "Middle East": 1},
        categories={
            "Energy": ("Fusion cell", "Solar array", "Doomsday battery"),
            "Security": ("Laser grid", "Drone sentry", "Volcano lair door"),
            "Software": ("Hammock OS", "Plan-9 analytics", "Evil CRM", "World-map dashboard"),
        },
        growth=-0.10,
    ),
)
SEGMENTS: Final = ("Enterprise", "Mid-market", "Small business")
SEGMENT_WEIGHTS: Final = (2, 3, 5)
STATUSES: Final = ("completed", "shipped", "returned", "cancelled")
STATUS_WEIGHTS: Final = (80, 12, 5, 3)

SCHEMA: Final = (
    """CREATE TABLE main.customers (
        customer_id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, name VARCHAR NOT NULL,
        region VARCHAR NOT NULL, segment VARCHAR NOT NULL, signup_date DATE NOT NULL)""",
    """CREATE TABLE main.products (
        product_id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, name VARCHAR NOT NULL,
        category VARCHAR NOT NULL, unit_price DECIMAL(10,2) NOT NULL)""",
    """CREATE TABLE main.orders (
        order_id INTEGER PRIMARY KEY, tenant_id INTEGER NOT NULL, customer_id INTEGER NOT NULL,
        product_id INTEGER NOT NULL, order_date DATE NOT NULL, order_month DATE NOT NULL,
        region VARCHAR NOT NULL, category VARCHAR NOT NULL, status VARCHAR NOT NULL,
        quantity INTEGER NOT NULL, amount DECIMAL(12,2) NOT NULL)""",
)

_FIRST = (
    "Ada",
    "Bo",
    "Chen",
    "Dara",
    "Eli",
    "Farah",
    "Gus",
    "Hana",
    "Ivo",
    "Jun",
    "Kai",
    "Lena",
    "Mo",
    "Nia",
)
_LAST = ("Nguyen", "Okafor", "Silva", "Kowalski", "Tanaka", "Haddad", "Murphy", "Rossi", "Schmidt", "Ali")
_COMPANY = ("Industries", "Labs", "Holdings", "Partners", "Systems", "Works", "Traders", "Group")


def create_demo_database(path: str | Path, *, seed: int = DEMO_SEED) -> Path:
    """Write the demo tables into a new DuckDB file at `path` (replacing any file there).

    Returns the absolute path. Rows depend only on `seed`.
    """
    target = Path(path).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (target, target.with_name(target.name + ".wal")):
        leftover.unlink(missing_ok=True)
    customers, products, orders = demo_rows(seed)
    with duckdb.connect(str(target)) as conn:
        for statement in SCHEMA:
            conn.execute(statement)
        for table, rows in (("customers", customers), ("products", products), ("orders", orders)):
            _insert(conn, table, rows)
        conn.execute("CHECKPOINT")
    return target


def _insert(conn: duckdb.DuckDBPyConnection, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
    # One statement per chunk of rows, values bound: executemany costs a statement per row (~100x slower).
    width = len(rows[0])
    placeholders = "(" + ", ".join("?" * width) + ")"
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        values = ", ".join([placeholders] * len(chunk))
        conn.execute(f"INSERT INTO main.{table} VALUES {values}", [v for row in chunk for v in row])  # noqa: S608


_CHUNK: Final = 500


def demo_rows(
    seed: int = DEMO_SEED,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of customers, products and orders, in insertion order."""
    rng = random.Random(seed)  # noqa: S311 (reproducible demo data, not secrets)
    customers: list[tuple[Any, ...]] = []
    products: list[tuple[Any, ...]] = []
    orders: list[tuple[Any, ...]] = []
    for spec in TENANTS:
        first_customer = len(customers) + 1
        regions, region_weights = zip(*spec.regions.items(), strict=True)
        for _ in range(spec.customers):
            if rng.random() < 0.4:
                name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            else:
                name = f"{rng.choice(_LAST)} {rng.choice(_COMPANY)}"
            customers.append(
                (
                    len(customers) + 1,
                    spec.tenant_id,
                    name,
                    rng.choices(regions, region_weights)[0],
                    rng.choices(SEGMENTS, SEGMENT_WEIGHTS)[0],
                    START - datetime.timedelta(days=rng.randrange(1, 900)),
                )
            )
        tenant_products: list[tuple[Any, ...]] = []
        for category, names in spec.categories.items():
            for name in names:
                price = Decimal(rng.randrange(500, 250_000)) / 100
                tenant_products.append(
                    (len(products) + len(tenant_products) + 1, spec.tenant_id, name, category, price)
                )
        products.extend(tenant_products)
        tenant_customers = customers[first_customer - 1 :]
        for _ in range(spec.orders):
            day = _order_day(rng, spec.growth)
            customer = rng.choice(tenant_customers)
            product = rng.choice(tenant_products)
            quantity = rng.choices((1, 2, 3, 4, 5, 10), (40, 25, 15, 10, 6, 4))[0]
            discount = Decimal(rng.choice((100, 100, 100, 95, 90, 85))) / 100
            amount = (product[4] * quantity * discount).quantize(Decimal("0.01"))
            orders.append(
                (
                    len(orders) + 1,
                    spec.tenant_id,
                    customer[0],
                    product[0],
                    day,
                    day.replace(day=1),
                    customer[3],
                    product[3],
                    rng.choices(STATUSES, STATUS_WEIGHTS)[0],
                    quantity,
                    amount,
                )
            )
    orders.sort(key=lambda row: (row[4], row[0]))
    orders = [(index + 1, *row[1:]) for index, row in enumerate(orders)]
    return customers, products, orders


def _order_day(rng: random.Random, growth: float) -> datetime.date:
    """A day in 2024-2025, denser later when `growth` > 0, with a year-end peak."""
    while True:
        offset = rng.randrange(DAYS)
        day = START + datetime.timedelta(days=offset)
        weight = 1.0 + growth * offset / 365 + (0.5 if day.month in (11, 12) else 0.0)
        if rng.random() * 2.0 < weight:
            return day


# The registry side: bodies for the onboarding API.

ORDERS_COLUMNS: Final = (
    ("order_id", "INTEGER"),
    ("tenant_id", "INTEGER"),
    ("customer_id", "INTEGER"),
    ("product_id", "INTEGER"),
    ("order_date", "DATE"),
    ("order_month", "DATE"),
    ("region", "VARCHAR"),
    ("category", "VARCHAR"),
    ("status", "VARCHAR"),
    ("quantity", "INTEGER"),
    ("amount", "DECIMAL(12,2)"),
)
CUSTOMERS_COLUMNS: Final = (
    ("customer_id", "INTEGER"),
    ("tenant_id", "INTEGER"),
    ("name", "VARCHAR"),
    ("region", "VARCHAR"),
    ("segment", "VARCHAR"),
    ("signup_date", "DATE"),
)
PRODUCTS_COLUMNS: Final = (
    ("product_id", "INTEGER"),
    ("tenant_id", "INTEGER"),
    ("name", "VARCHAR"),
    ("category", "VARCHAR"),
    ("unit_price", "DECIMAL(10,2)"),
)


@dataclass(frozen=True, slots=True)
class DemoTenant:
    """One tenant's onboarding bodies, in the order to POST them.

    Paths: `POST /api/v1/tenants` (tenant), then under `/api/v1/tenants/{slug}/`: `warehouses`,
    `datasets`, `filters`, `charts`, `dashboards`. The dashboard refers to charts by id, known only
    once they exist: `dashboard_body(ids)` fills them in, in the order of `dashboard_charts`.
    """

    tenant_id: int
    slug: str
    tenant: dict[str, Any]
    warehouse: dict[str, Any]
    datasets: list[dict[str, Any]]
    filters: list[dict[str, Any]]
    charts: list[dict[str, Any]]
    dashboard: dict[str, Any]
    dashboard_charts: list[str] = field(default_factory=list)  # chart titles, in dashboard order

    def dashboard_body(self, chart_ids: Sequence[int | str]) -> dict[str, Any]:
        if len(chart_ids) != len(self.dashboard_charts):
            raise ValueError(f"expected {len(self.dashboard_charts)} chart ids")
        return {**self.dashboard, "charts": list(chart_ids)}


def demo_tenants(path: str | Path) -> list[DemoTenant]:
    """The registry definitions of the demo tenants, `acme` and `globex`, for the file at `path`."""
    url = f"duckdb://{quote(Path(path).resolve().as_posix())}"
    return [_demo_tenant(spec, url) for spec in TENANTS]


def _columns(columns: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "type": type_} for name, type_ in columns]


def _demo_tenant(spec: _TenantSpec, url: str) -> DemoTenant:
    charts: list[dict[str, Any]] = [
        {
            "title": "Revenue by region",
            "dataset": "orders",
            "viz_type": "bar",
            "query": {
                "metrics": [{"aggregate": "SUM", "column": "amount", "label": "revenue"}],
                "groupby": ["region"],
                "order_by": [{"column": "revenue", "descending": True}],
            },
        },
        {
            "title": "Orders by month",
            "dataset": "orders",
            "viz_type": "line",
            "query": {
                "metrics": [
                    {"aggregate": "COUNT", "label": "orders"},
                    {"aggregate": "SUM", "column": "amount", "label": "revenue"},
                ],
                "groupby": ["order_month"],
                "order_by": [{"column": "order_month"}],
            },
        },
        {
            "title": "Total revenue",
            "dataset": "orders",
            "viz_type": "big_number",
            "query": {
                "metrics": [{"aggregate": "SUM", "column": "amount", "label": "revenue"}],
                "filters": [{"column": "status", "op": "NOT IN", "value": ["cancelled", "returned"]}],
            },
        },
        {
            "title": "Recent orders",
            "dataset": "orders",
            "viz_type": "table",
            "query": {
                "groupby": ["order_id", "order_date", "region", "category", "status", "quantity", "amount"],
                "order_by": [
                    {"column": "order_date", "descending": True},
                    {"column": "order_id", "descending": True},
                ],
                "row_limit": 20,
            },
        },
    ]
    titles = [chart["title"] for chart in charts]
    layout = {
        "columns": 12,
        # `chart` is a position in the dashboard's chart list.
        "items": [
            {"chart": 2, "x": 0, "y": 0, "w": 4, "h": 3},
            {"chart": 0, "x": 4, "y": 0, "w": 8, "h": 3},
            {"chart": 1, "x": 0, "y": 3, "w": 12, "h": 4},
            {"chart": 3, "x": 0, "y": 7, "w": 12, "h": 6},
        ],
    }
    return DemoTenant(
        tenant_id=spec.tenant_id,
        slug=spec.slug,
        tenant={
            "slug": spec.slug,
            "name": spec.name,
            "dialect": "duckdb",
            "attributes": {"tenant_id": spec.tenant_id},
            "origins": [DEMO_ORIGIN],
        },
        warehouse={"name": WAREHOUSE_NAME, "url": url},
        datasets=[
            {
                "name": "orders",
                "warehouse": WAREHOUSE_NAME,
                "table": "main.orders",
                "columns": _columns(ORDERS_COLUMNS),
                "description": "One row per order line, with the customer's region and the product category",
            },
            {
                "name": "customers",
                "warehouse": WAREHOUSE_NAME,
                "table": "main.customers",
                "columns": _columns(CUSTOMERS_COLUMNS),
                "description": "Customers and their regions and segments",
            },
            {
                "name": "products",
                "warehouse": WAREHOUSE_NAME,
                "table": "main.products",
                "columns": _columns(PRODUCTS_COLUMNS),
                "description": "The product catalogue",
            },
        ],
        filters=[
            {
                "name": "Tenant isolation",
                "filter_type": "base",
                "dataset": "*",
                "clause": f"tenant_id = {spec.tenant_id}",
                "description": f"Every dataset holds all tenants' rows; {spec.name} sees its own",
            }
        ],
        charts=charts,
        dashboard={"title": f"{spec.name} sales", "layout": layout},
        dashboard_charts=titles,
    )
