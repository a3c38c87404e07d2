"""An unhandled error is still answered with the request id and the security headers.

Starlette answers it from its outermost layer; the gateway's app puts its edge layer (request id,
security headers, access line) around that layer too.
"""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.service.app import GatewayApp
from tests.support.edge import edge


async def broken(_request: Request) -> Response:
    raise RuntimeError("a bug")


@pytest.mark.anyio
async def test_a_500_carries_the_request_id_and_security_headers() -> None:
    app = GatewayApp(
        outer_middleware=[edge()],
        routes=[Route("/broken", broken)],
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await client.get("/broken", headers={"X-Request-ID": "trace-42"})
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "trace-42"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert "a bug" not in response.text
