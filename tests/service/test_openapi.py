"""/openapi.json describes every route the gateway serves, with resolvable references."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.routing import Route

from gateway.config import Config
from gateway.service.app import create_app
from tenants.schemas import Dialect
from tenants.warehouse_urls import DIALECTS


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


@pytest.mark.anyio
async def test_every_route_and_method_is_described(tmp_path: Path) -> None:
    app = create_app(Config.from_env({"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path}/r.db"}))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        spec = (await client.get("/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    for route in app.routes:
        assert isinstance(route, Route)
        described = spec["paths"].get(route.path)
        assert described is not None, f"{route.path} is not in /openapi.json"
        methods = {m.lower() for m in route.methods or ()} - {"head"}
        assert set(described) == methods, route.path
        for operation in described.values():
            assert operation["responses"], route.path
    for ref in _refs(spec):
        match = re.fullmatch(r"#/components/(schemas|responses)/(\w+)", ref)
        assert match and match.group(2) in spec["components"][match.group(1)], ref


def test_dialect_vocabularies_agree() -> None:
    assert set(Dialect.__args__) == DIALECTS  # type: ignore[attr-defined]
