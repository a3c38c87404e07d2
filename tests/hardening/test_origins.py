"""Origin checks and CORS on the data endpoints, attacked from the origins a browser would send."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.dataplane.conftest import DataTenant, Engine
from tests.hardening.conftest import HardenedGateway
from tests.support.guests import assert_api_error, eventually

FOREIGN = "https://evil.example"


@pytest.fixture(scope="module")
def pair(gw: HardenedGateway, duckdb_engine: Engine) -> tuple[tuple[DataTenant, str], tuple[DataTenant, str]]:
    """Two tenants, each with its own origins: (tenant, its app origin)."""
    return gw.tenant(duckdb_engine, 1), gw.tenant(duckdb_engine, 2)


def dashboard(gw: HardenedGateway, tenant: DataTenant, token: str, origin: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", **({"Origin": origin} if origin is not None else {})}
    return gw.http.get(f"/api/v1/dashboard/{tenant.dashboard['id']}", headers=headers)


def chart_data(gw: HardenedGateway, tenant: DataTenant, token: str, origin: str) -> httpx.Response:
    body = {"chart_id": tenant.chart("All orders")}
    return gw.http.post(
        "/api/v1/chart/data", json=body, headers={"Authorization": f"Bearer {token}", "Origin": origin}
    )


def cors_headers(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def forbidden_origin(response: httpx.Response) -> None:
    assert_api_error(response, 403, "origin_forbidden")
    assert cors_headers(response) == {}, response.headers


def test_an_allowed_origin_gets_the_data_and_exactly_its_own_origin_back(
    gw: HardenedGateway, pair: Any
) -> None:
    (tenant, origin), _ = pair
    token = gw.guest(tenant)
    subdomain = origin.replace("https://app.", "https://reports.")  # covered by the tenant's *. pattern
    for allowed in (origin, subdomain):
        response = chart_data(gw, tenant, token, allowed)
        assert response.status_code == 200, response.text
        assert cors_headers(response) == {"access-control-allow-origin": allowed}
        assert "Origin" in response.headers["vary"]


def test_a_valid_token_used_from_a_foreign_origin_is_refused(gw: HardenedGateway, pair: Any) -> None:
    (tenant, _), (_, other_tenants_origin) = pair
    token = gw.guest(tenant)
    for origin in (FOREIGN, other_tenants_origin, "http://localhost:8000", "https://app.evil.example"):
        forbidden_origin(dashboard(gw, tenant, token, origin))
        forbidden_origin(chart_data(gw, tenant, token, origin))


def test_sandboxed_frames_and_file_pages_are_refused(gw: HardenedGateway, pair: Any) -> None:
    (tenant, _), _ = pair
    token = gw.guest(tenant)
    for origin in ("null", "file://", "", "https://app.example:99999"):
        forbidden_origin(dashboard(gw, tenant, token, origin))


def test_the_tokens_origins_narrow_the_tenants(gw: HardenedGateway, pair: Any) -> None:
    (tenant, origin), _ = pair
    narrowed = gw.token_for_origins(tenant, [origin])
    assert dashboard(gw, tenant, narrowed, origin).status_code == 200
    forbidden_origin(dashboard(gw, tenant, narrowed, origin.replace("https://app.", "https://reports.")))
    nobody = gw.token_for_origins(tenant, [])
    for any_origin in (origin, FOREIGN):
        forbidden_origin(dashboard(gw, tenant, nobody, any_origin))


def test_the_gateways_own_page_and_servers_always_pass(gw: HardenedGateway, pair: Any) -> None:
    (tenant, _), _ = pair
    nobody = gw.token_for_origins(tenant, [])
    own = dashboard(gw, tenant, nobody, gw.url)  # the embedded page is served by the gateway
    assert own.status_code == 200 and cors_headers(own) == {}
    server = dashboard(gw, tenant, nobody, None)  # server to server: no Origin at all
    assert server.status_code == 200 and cors_headers(server) == {}


def preflight(gw: HardenedGateway, path: str, origin: str, method: str = "POST") -> httpx.Response:
    return gw.http.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )


def test_preflights_are_answered_for_tenants_origins_only(gw: HardenedGateway, pair: Any) -> None:
    (tenant, origin), _ = pair
    allowed = eventually(
        lambda: preflight(gw, "/api/v1/chart/data", origin), lambda r: r.status_code == 204, within=5
    )
    assert allowed.status_code == 204, allowed.text
    assert cors_headers(allowed) == {
        "access-control-allow-origin": origin,
        "access-control-allow-methods": "GET, POST",
        "access-control-allow-headers": "Authorization, Content-Type, X-GuestToken, X-Request-ID",
        "access-control-max-age": "600",
    }
    assert allowed.headers["vary"] == "Origin"
    dashboard_preflight = preflight(gw, f"/api/v1/dashboard/{tenant.dashboard['id']}", origin, "GET")
    assert dashboard_preflight.headers["access-control-allow-origin"] == origin
    for stranger in (FOREIGN, "null", "http://example.com"):
        refused = preflight(gw, "/api/v1/query", stranger)
        assert refused.status_code >= 400 and cors_headers(refused) == {}, stranger


def test_mint_oauth_ticket_and_admin_endpoints_never_speak_cors(gw: HardenedGateway, pair: Any) -> None:
    (tenant, origin), _ = pair
    assert preflight(gw, "/api/v1/chart/data", origin).status_code == 204  # the origin is a known one
    access = gw.access_token(tenant.app)
    token = gw.guest(tenant)
    calls = [
        preflight(gw, "/api/v1/security/guest_token/", origin),
        preflight(gw, "/oauth/token", origin),
        preflight(gw, "/api/v1/embed/ticket", origin),
        preflight(gw, "/api/v1/tenants", origin),
        gw.http.post(
            "/api/v1/security/guest_token/",
            json={"user": {"username": "a"}, "resources": [], "rls": []},
            headers={"Authorization": f"Bearer {access}", "Origin": origin},
        ),
        gw.http.post("/oauth/token", data={"grant_type": "client_credentials"}, headers={"Origin": origin}),
        gw.http.post("/api/v1/embed/ticket", headers={"Authorization": f"Bearer {token}", "Origin": origin}),
        gw.admin.get("/api/v1/tenants", headers={"Origin": origin}),
    ]
    for response in calls:
        assert cors_headers(response) == {}, (response.request.method, response.request.url, response.headers)
