"""The onboarding API answers only to the admin token, and a refusal says nothing useful to an attacker."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.routing import Route

from gateway.config import Config
from gateway.service.app import create_app
from tenants.admin_auth import AdminAuthMiddleware
from tests.support.gateways import InProcessGateway
from tests.support.services import ADMIN_TOKEN


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer null",
        "Bearer wrong-token",
        f"Bearer {ADMIN_TOKEN[:-1]}",
        f"Bearer {ADMIN_TOKEN}x",
        f"Basic {ADMIN_TOKEN}",
        ADMIN_TOKEN,
    ],
    ids=["absent", "empty", "scheme-only", "null", "wrong", "prefix", "suffix", "basic-scheme", "no-scheme"],
)
def test_missing_or_wrong_admin_token_is_refused_identically(
    gateway: InProcessGateway, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    with httpx.Client(base_url=gateway.url, headers=headers) as client:
        for method, path, body in (
            ("GET", "/api/v1/tenants", None),
            ("POST", "/api/v1/tenants", {"slug": "intruder", "name": "x"}),
            ("GET", "/api/v1/tenants/anything/apps", None),
            ("DELETE", "/api/v1/tenants/anything", None),
        ):
            response = client.request(method, path, json=body)
            assert response.status_code == 401
            assert response.json() == {
                "error": {"code": "unauthorized", "message": "a valid admin bearer token is required"}
            }
            assert response.headers["www-authenticate"] == 'Bearer realm="admin"'
            assert ADMIN_TOKEN not in response.text
    with gateway.client() as admin:
        assert admin.get("/api/v1/tenants/intruder").status_code == 404


def test_probes_and_api_description_need_no_admin_token(gateway: InProcessGateway) -> None:
    with httpx.Client(base_url=gateway.url) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/openapi.json").status_code == 200


def test_every_onboarding_route_sits_behind_the_admin_check(tmp_path: Path) -> None:
    """Structural guard: a route added later without the middleware fails here, not in production."""
    app = create_app(Config.from_env({"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path}/r.db"}))
    onboarding = [r for r in app.routes if isinstance(r, Route) and r.path.startswith("/api/v1/tenants")]
    assert len(onboarding) == 23
    for route in onboarding:
        assert isinstance(route.app, AdminAuthMiddleware), route.path
