"""Routes served past Starlette's router answer exactly as Starlette would have: same handlers, same
errors, same route name in metrics, and an unexpected error still becomes a 500 that is raised again."""

from __future__ import annotations

import httpx
import pytest
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.edge.direct_routes import DirectRoutes
from gateway.http.errors import EXCEPTION_HANDLERS, ApiError
from gateway.service.app import GatewayApp
from gateway.telemetry.metrics import Metrics
from tests.support.edge import edge

pytestmark = pytest.mark.anyio


async def hot(request: Request) -> Response:
    return JSONResponse({"route": request.scope["route"].path, "body": (await request.json())})


async def refused(_request: Request) -> Response:
    raise ApiError("not for you", code="resource_forbidden", status=403)


async def broken(_request: Request) -> Response:
    raise RuntimeError("a bug with a secret in it")


def app(metrics: Metrics) -> GatewayApp:
    routes = [
        Route("/hot", hot, methods=["POST"]),
        Route("/refused", refused, methods=["POST"]),
        Route("/broken", broken, methods=["POST"]),
    ]
    return GatewayApp(
        outer_middleware=[
            edge(metrics),
            Middleware(DirectRoutes, routes=routes, exception_handlers=EXCEPTION_HANDLERS),
        ],
        routes=routes,
        exception_handlers=EXCEPTION_HANDLERS,
    )


async def test_answers_errors_and_metrics_match_starlettes() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(app=app(metrics))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        answered = await client.post("/hot", json={"n": 1})
        assert answered.status_code == 200
        assert answered.json() == {"route": "/hot", "body": {"n": 1}}
        assert answered.headers["x-content-type-options"] == "nosniff" and answered.headers["x-request-id"]
        # Other methods reach Starlette, which knows the route.
        assert (await client.get("/hot")).status_code == 405
        denied = await client.post("/refused", json={})
        assert denied.status_code == 403
        assert denied.json() == {"error": {"code": "resource_forbidden", "message": "not for you"}}
    text = metrics.exposition().decode()
    assert 'gateway_http_requests_total{method="POST",route="/hot",status="200"} 1.0' in text
    assert 'gateway_http_requests_total{method="POST",route="/refused",status="403"} 1.0' in text


async def test_an_unexpected_error_is_a_bare_500_and_is_raised_again() -> None:
    metrics = Metrics()
    transport = httpx.ASGITransport(app=app(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await client.post("/broken", json={}, headers={"X-Request-ID": "trace-9"})
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret" not in response.text and response.headers["x-request-id"] == "trace-9"
    assert 'route="/broken",status="500"} 1.0' in metrics.exposition().decode()
    raising = httpx.ASGITransport(app=app(Metrics()))
    async with httpx.AsyncClient(transport=raising, base_url="http://gateway.test") as client:
        with pytest.raises(RuntimeError, match="a bug"):
            await client.post("/broken", json={})
