"""/metrics, scraped as Prometheus would, after a few real requests of every kind."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import Config
from gateway.service.app import create_app
from tests.runtime.conftest import StartGateway
from tests.support.guests import assert_refused, default_body
from tests.support.services import ADMIN_TOKEN, SECRET_KEY

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str) -> tuple[str, Samples, set[str]]:
    response = httpx.get(url + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = list(text_string_to_metric_families(response.text))
    samples = {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in families
        for sample in family.samples
    }
    return response.text, samples, {family.name for family in families}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_series_after_a_few_requests(start_gateway: StartGateway) -> None:
    gw = start_gateway()
    tenant = gw.onboard()
    access = gw.access_token(tenant.app)
    token = gw.mint(tenant, default_body(tenant), access=access)
    dashboard = tenant.dashboard["id"]
    assert gw.dashboard(token, dashboard).status_code == 200
    assert gw.dashboard(token, dashboard, header="x-guesttoken").status_code == 200
    assert_refused(gw.dashboard("not-a-jwt", dashboard), "token_malformed")
    head, payload, signature = token.split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert_refused(gw.dashboard(forged, dashboard), "invalid_signature")
    assert_refused(gw.dashboard(None, dashboard), "missing_token")
    assert gw.http.get("/no/such/route/42").status_code == 404
    assert gw.http.get("/readyz").status_code == 200
    assert gw.http.post("/healthz").status_code == 405
    # A caller's invented method must not make a series (httptools refuses it before the app here).
    gw.http.request("BREW", "/healthz")

    text, samples, families = scrape(gw.url)

    requests = "gateway_http_requests_total"
    dashboard_route = {"route": "/api/v1/dashboard/{ref}", "method": "GET"}
    assert value(samples, requests, **dashboard_route, status="200") == 2
    assert value(samples, requests, **dashboard_route, status="401") == 3
    assert value(samples, requests, route="/api/v1/security/guest_token/", method="POST", status="200") == 1
    assert value(samples, requests, route="/oauth/token", method="POST", status="200") == 1
    assert value(samples, requests, route="/api/v1/tenants", method="POST", status="201") == 1
    assert value(samples, requests, route="/api/v1/tenants/{tenant}/charts", method="POST", status="201") == 2
    assert value(samples, requests, route="unmatched", method="GET", status="404") == 1
    assert value(samples, requests, route="/healthz", method="POST", status="405") == 1
    assert "BREW" not in text
    assert value(samples, "gateway_http_request_duration_seconds_count", **dashboard_route) == 5
    assert value(samples, "gateway_http_request_duration_seconds_sum", **dashboard_route) > 0
    # Labels name route templates, never what a caller put in a path.
    routes = {dict(labels).get("route") for (_, labels) in samples}
    assert not any(route and ("/no/such" in route or route.endswith(f"/{dashboard}")) for route in routes)

    assert value(samples, "gateway_tokens_minted_total") == 1
    assert value(samples, "gateway_tokens_verified_total") == 2
    for reason in ("token_malformed", "invalid_signature", "missing_token"):
        assert value(samples, "gateway_tokens_rejected_total", reason=reason) == 1, reason
    assert value(samples, "gateway_ready") == 1
    assert value(samples, "gateway_redis_errors_total") == 0
    # Onboarding published config events that the replica follower applied.
    assert 0 < value(samples, "gateway_event_lag_seconds") < 60
    # Defined now, filled by the data plane.
    assert {"gateway_cache_requests", "gateway_warehouse_query_seconds"} <= families

    for secret in (token, access, tenant.app.client_secret, ADMIN_TOKEN, f"pw-{tenant.slug}"):
        assert secret not in text
    assert tenant.id not in text and tenant.slug not in text


@pytest.mark.anyio
async def test_apps_in_one_process_keep_separate_registries(tmp_path: Path) -> None:
    config = Config.from_env(
        {"GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'r.db'}", "GATEWAY_SECRET_KEY": SECRET_KEY}
    )
    first, second = create_app(config), create_app(config)  # a shared registry would refuse the second
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(first), base_url="http://gw") as to_first,
        httpx.AsyncClient(transport=httpx.ASGITransport(second), base_url="http://gw") as to_second,
    ):
        assert (await to_first.get("/healthz")).status_code == 200
        # Methods are a bounded label whatever the server in front lets through.
        assert (await to_second.request("BREW", "/healthz")).status_code == 405
        of_first = (await to_first.get("/metrics")).text
        of_second = (await to_second.get("/metrics")).text
    healthz = 'gateway_http_requests_total{method="GET",route="/healthz",status="200"}'
    assert f"{healthz} 1.0" in of_first and healthz not in of_second
    assert 'method="other"' in of_second and 'method="other"' not in of_first
    assert "BREW" not in of_second
