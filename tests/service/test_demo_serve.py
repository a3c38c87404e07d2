"""`gateway serve` with nothing configured loads the demo: a user can mint a token and read its rows."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import httpx

from gateway.service.demo.onboarding import DEMO_FILE
from tests.support.gateways import GatewayProcess, gateway_env

GUIDE_LINE = re.compile(
    r"(?P<name>[A-Z][a-z]+ Corporation): embedded page \S+/embedded/(?P<dashboard>[0-9a-f-]{36})\n"
    r"\s+host app, secret shown once: client_id=(?P<client_id>\S+) client_secret=(?P<secret>\S+)"
)


def _unconfigured_env() -> dict[str, str]:
    return {
        k: v for k, v in gateway_env(None).items() if k not in ("GATEWAY_ADMIN_TOKEN", "GATEWAY_SECRET_KEY")
    }


def _guest_token(http: httpx.Client, client_id: str, secret: str, dashboard: str) -> str:
    access = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": "guest_token:create"},
        auth=(client_id, secret),
    )
    assert access.status_code == 200, access.text
    minted = http.post(
        "/api/v1/security/guest_token/",
        json={"user": {"username": "demo"}, "resources": [{"type": "dashboard", "id": dashboard}], "rls": []},
        headers={"Authorization": f"Bearer {access.json()['access_token']}"},
    )
    assert minted.status_code == 200, minted.text
    token: str = minted.json()["token"]
    return token


def _revenue_by_region(http: httpx.Client, token: str, dashboard: str) -> dict[str, float]:
    headers = {"Authorization": f"Bearer {token}"}
    described = http.get(f"/api/v1/dashboard/{dashboard}", headers=headers)
    assert described.status_code == 200, described.text
    chart = next(c for c in described.json()["charts"] if c["title"] == "Revenue by region")
    data = http.post(
        "/api/v1/chart/data", json={"dashboard_id": dashboard, "chart_id": chart["id"]}, headers=headers
    )
    assert data.status_code == 200, data.text
    return {region: round(float(revenue), 2) for region, revenue in data.json()["rows"]}


def test_serve_with_nothing_configured_loads_the_demo_once(tmp_path: Path) -> None:
    server = GatewayProcess(_unconfigured_env(), tmp_path).start()
    try:
        guide = {m["name"]: m for m in GUIDE_LINE.finditer(server.output())}
        assert set(guide) == {"Acme Corporation", "Globex Corporation"}, server.output()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            answers = {
                name: _revenue_by_region(
                    http, _guest_token(http, m["client_id"], m["secret"], m["dashboard"]), m["dashboard"]
                )
                for name, m in guide.items()
            }
    finally:
        server.stop()
    with duckdb.connect(str(tmp_path / DEMO_FILE), read_only=True) as conn:
        for name, tenant_id in (("Acme Corporation", 1), ("Globex Corporation", 2)):
            expected = conn.execute(
                "SELECT region, SUM(amount) FROM orders WHERE tenant_id = ? GROUP BY region", [tenant_id]
            ).fetchall()
            assert answers[name] == {region: round(float(total), 2) for region, total in expected}
    # The registry is no longer empty: a restart keeps the tenants and loads nothing again.
    again = GatewayProcess(_unconfigured_env(), tmp_path).start()
    try:
        assert "loaded the demo" not in again.output()
    finally:
        again.stop()
