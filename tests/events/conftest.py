"""Three gateway processes sharing one PostgreSQL registry and one Redis (issue 7 acceptance).

The tenant is the demo's tenant 1 on the DuckDB demo warehouse (tests.dataplane), with one more
base filter on `orders`, `region = '<region>'`, that the tests change through one process while
reading the "Revenue by region" chart through the others: the chart's answer names the regions a
user may see, and is compared with a direct query on the warehouse.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import httpx
import pytest
from redis.asyncio import Redis

from tests.dataplane.conftest import (
    DataGateway,
    DataTenant,
    Engine,
    duckdb_engine,
    norm_rows,
)
from tests.support.guests import Servers, drop_redis_prefix, redis_prefix
from tests.support.services import REDIS_URL, PostgresDatabases, ThrowAwayRedis

__all__ = ["duckdb_engine"]  # the session's DuckDB demo warehouse (a fixture, re-exported here)

PROPAGATION: Final = 1.0  # seconds within which every process acts on a change made through another
REVENUE: Final = "Revenue by region"


@pytest.fixture
def prefix() -> Iterator[str]:
    """A Redis key prefix of the test's own, its keys deleted afterwards."""
    chosen = redis_prefix()
    yield chosen
    drop_redis_prefix(chosen)


@pytest.fixture
def own_redis() -> Iterator[ThrowAwayRedis]:
    """A Redis of the test's own, to stop and start (empty again) while the gateway runs."""
    server = ThrowAwayRedis()
    yield server
    server.stop()


@pytest.fixture
async def redis() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
    yield client
    await client.aclose()


def region_filter(region: str) -> str:
    return f"region = '{region}'"


@dataclass
class Trio:
    """Three gateways on one registry and one Redis prefix; a change goes through `first`."""

    gateways: tuple[DataGateway, DataGateway, DataGateway]
    engine: Engine

    @property
    def first(self) -> DataGateway:
        return self.gateways[0]

    @property
    def others(self) -> tuple[DataGateway, DataGateway]:
        return self.gateways[1], self.gateways[2]

    def onboard(self, region: str = "Europe") -> DataTenant:
        return onboard_with_region(self.first, self.engine, region)

    def set_region(self, tenant: DataTenant, region: str) -> None:
        set_region(self.first, tenant, region)


def onboard_with_region(gw: DataGateway, engine: Engine, region: str) -> DataTenant:
    """Demo tenant 1, whose users also see only the orders of `region` (the last of its filters)."""
    return gw.onboard_demo(
        engine,
        1,
        extra_filters=[
            {"name": "region", "filter_type": "base", "dataset": "orders", "clause": region_filter(region)}
        ],
    )


def set_region(gw: DataGateway, tenant: DataTenant, region: str) -> None:
    response = gw.admin.patch(
        f"/api/v1/tenants/{tenant.slug}/filters/{tenant.filters[-1]['id']}",
        json={"clause": region_filter(region)},
    )
    assert response.status_code == 200, response.text


def revenue_request(gw: DataGateway, token: str, tenant: DataTenant, timeout: float = 10) -> httpx.Response:
    return gw.chart_data(token, {"chart_id": tenant.chart(REVENUE)}, timeout=timeout)


def expected_revenue(engine: Engine, region: str) -> list[list[Any]]:
    """What the chart must answer while the region filter is `region`: a direct query on the warehouse."""
    return norm_rows(
        engine.rows(
            "SELECT region, SUM(amount) FROM {orders} WHERE tenant_id = 1 AND region = ? GROUP BY region",
            region,
        )
    )


def within(done: Callable[[], bool], *, since: float) -> float:
    """Poll `done` until it holds; the seconds from `since` (a time.monotonic()) until it did, for the
    caller to compare with its limit. Gives up 10 s after `since`."""
    while not done() and time.monotonic() - since < 10:
        time.sleep(0.02)
    return time.monotonic() - since


def start_trio(servers: Servers, engine: Engine, database_url: str, **kwargs: Any) -> Trio:
    first = servers.start(DataGateway, database_url=database_url, **kwargs)
    kwargs.setdefault("prefix", first.redis_prefix)
    second = servers.start(DataGateway, database_url=database_url, **kwargs)
    third = servers.start(DataGateway, database_url=database_url, **kwargs)
    return Trio((first, second, third), engine)


@pytest.fixture(scope="module")
def trio(servers: Servers, duckdb_engine: Engine, postgres_databases: PostgresDatabases) -> Trio:
    """Three gateways on a PostgreSQL registry and the shared Redis, under a fresh prefix."""
    return start_trio(servers, duckdb_engine, postgres_databases.create())
