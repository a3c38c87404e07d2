"""The demo: its DuckDB file and its two tenants in the registry, ready to embed.

Used by `gateway serve` when nothing is configured (an empty development registry gets the demo)
and by `gateway demo`. Onboarding goes through the same `Registry` as the API, so the demo tenants
are ordinary tenants. Running it again changes nothing but the origins it is asked to allow and the
fresh host app it makes for the run: an app's secret is shown once, so each run needs its own.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from gateway.bus.memory import InProcessBus
from gateway.config import Config
from gateway.http.bodies import validate
from gateway.service.demo.dataset import DemoTenant, create_demo_database, demo_tenants
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.errors import Conflict, NotFound
from tenants.registry import Registry
from tenants.resources import NESTED, TENANTS, Resource

DEMO_FILE: Final = "demo-warehouse.duckdb"


@dataclass(frozen=True, slots=True)
class DemoTenantAccess:
    slug: str
    name: str
    dashboard_uuid: str
    client_id: str
    client_secret: str


def _collection(name: str) -> Resource:
    return next(resource for resource in NESTED if resource.collection == name)


async def prepare_demo(
    config: Config, *, origins: Sequence[str] = (), only_into_empty_registry: bool = False
) -> list[DemoTenantAccess]:
    """Migrate the registry; create the demo warehouse file and tenants when missing; allow `origins`;
    make this run's apps. With `only_into_empty_registry`, a registry holding any tenant is left
    as it is (and nothing is returned)."""
    engine = create_engine(config.database_url, timeout_seconds=config.database_timeout_seconds)
    try:
        await migrate(engine)
        registry = Registry(
            session_factory(engine),
            SecretBox(config.effective_secret_key().get_secret_value()),
            InProcessBus(),
        )
        if only_into_empty_registry:
            page = await registry.list(TENANTS, None, limit=1, cursor=None)
            assert page.body is not None
            if page.body["items"]:
                return []
        path = config.data_dir() / DEMO_FILE
        if not path.exists():
            create_demo_database(path)
        return [await _onboard(registry, tenant, origins) for tenant in demo_tenants(path)]
    finally:
        await engine.dispose()


async def _onboard(registry: Registry, demo: DemoTenant, origins: Sequence[str]) -> DemoTenantAccess:
    try:
        await registry.get(TENANTS, None, demo.slug)
        dashboard = await _demo_dashboard(registry, demo)
    except NotFound:
        await _create(registry, None, TENANTS, demo.tenant)
        dashboard = await _create_content(registry, demo)
    for origin in origins:
        with contextlib.suppress(Conflict):  # allowed already
            await _create(registry, demo.slug, _collection("origins"), {"origin": origin})
    app_name = {"name": f"demo-host-{secrets.token_hex(4)}"}
    app = await _create(registry, demo.slug, _collection("apps"), app_name)
    return DemoTenantAccess(
        slug=demo.slug,
        name=str(demo.tenant["name"]),
        dashboard_uuid=str(dashboard["uuid"]),
        client_id=str(app["client_id"]),
        client_secret=str(app["client_secret"]),
    )


async def _create_content(registry: Registry, demo: DemoTenant) -> dict[str, Any]:
    await _create(registry, demo.slug, _collection("warehouses"), demo.warehouse)
    for dataset in demo.datasets:
        await _create(registry, demo.slug, _collection("datasets"), dataset)
    for row_filter in demo.filters:
        await _create(registry, demo.slug, _collection("filters"), row_filter)
    chart_ids = {}
    for chart in demo.charts:
        chart_ids[chart["title"]] = (await _create(registry, demo.slug, _collection("charts"), chart))["id"]
    body = demo.dashboard_body([chart_ids[title] for title in demo.dashboard_charts])
    return await _create(registry, demo.slug, _collection("dashboards"), body)


async def _demo_dashboard(registry: Registry, demo: DemoTenant) -> dict[str, Any]:
    page = await registry.list(_collection("dashboards"), demo.slug, limit=100, cursor=None)
    assert page.body is not None
    for dashboard in page.body["items"]:
        if dashboard["title"] == demo.dashboard["title"]:
            return dict(dashboard)
    raise NotFound("dashboard", str(demo.dashboard["title"]))


async def _create(
    registry: Registry, tenant: str | None, resource: Resource, fields: dict[str, Any]
) -> dict[str, Any]:
    assert resource.create_body is not None
    body = validate(resource.create_body, fields)
    prefix = "/api/v1/tenants" if tenant is None else f"/api/v1/tenants/{tenant}/{resource.collection}"
    outcome = await registry.create(resource, tenant, body, location_prefix=prefix)
    assert outcome.body is not None
    return outcome.body
