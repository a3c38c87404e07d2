"""Onboarding a tenant for a test, through the registry in process or over the HTTP API."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import Backend

ORDERS_COLUMNS = [
    {"name": "id", "type": "INTEGER"},
    {"name": "tenant_id", "type": "INTEGER"},
    {"name": "region", "type": "VARCHAR"},
    {"name": "amount", "type": "DOUBLE"},
    {"name": "ordered_at", "type": "DATE"},
]


def created(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def onboard_in_registry(backend: Backend) -> dict[str, Any]:
    tenant = await backend.create(
        "tenants", None, {"slug": "acme", "name": "Acme", "origins": ["https://a.example"]}
    )
    await backend.create(
        "warehouses", "acme", {"name": "wh", "url": "postgresql://reader:pg-pass@db:5432/shop"}
    )
    await backend.create(
        "datasets",
        "acme",
        {"name": "orders", "warehouse": "wh", "table": "public.orders", "columns": ORDERS_COLUMNS},
    )
    chart = await backend.create(
        "charts",
        "acme",
        {"title": "Count", "dataset": "orders", "query": {"metrics": [{"aggregate": "COUNT", "label": "n"}]}},
    )
    await backend.create("dashboards", "acme", {"title": "Board", "charts": [chart["uuid"]]})
    await backend.create(
        "filters", "acme", {"name": "mine", "dataset": "orders", "clause": "tenant_id = 7", "group_key": "t"}
    )
    await backend.create(
        "filters",
        "acme",
        {
            "name": "emea",
            "filter_type": "regular",
            "dataset": "*",
            "clause": "region = 'EU'",
            "roles": ["emea"],
        },
    )
    app = await backend.create("apps", "acme", {"name": "backend"})
    return {"tenant": tenant, "chart": chart, "app": app}
