"""Request headers read once per request: the first of a repeated header wins, everywhere alike, and a
layer that hands on other headers is read from what it handed on."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.http.headers import header
from tests.support.edge import edge

pytestmark = pytest.mark.anyio


async def echo(request: Request) -> Response:
    return JSONResponse({name: header(request.scope, name.encode()) for name in ("x-tenant-hint", "origin")})


class ReplaceHeaders:
    """A layer that hands the app a new header list, as a proxy-fixing middleware may."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(name, value) for name, value in scope["headers"] if name != b"x-tenant-hint"]
        await self.app({**scope, "headers": [*headers, (b"x-tenant-hint", b"replaced")]}, receive, send)


async def answer(app: ASGIApp, headers: list[tuple[str, str]]) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw.test") as client:
        return await client.get("/echo", headers=headers)


async def test_the_first_of_a_repeated_header_is_the_one_read_by_the_edge_and_the_handler() -> None:
    app = Starlette(routes=[Route("/echo", echo)], middleware=[edge()])
    response = await answer(
        app,
        [
            ("X-Request-ID", "first-id"),
            ("X-Request-ID", "second-id"),
            ("X-Tenant-Hint", "one"),
            ("X-Tenant-Hint", "two"),
        ],
    )
    assert response.headers["x-request-id"] == "first-id"
    assert response.json() == {"x-tenant-hint": "one", "origin": None}


async def test_a_layer_that_hands_on_other_headers_is_read_from_those() -> None:
    inner = Starlette(routes=[Route("/echo", echo)])
    app = Starlette(routes=[Route("/echo", ReplaceHeaders(inner))], middleware=[edge()])
    response = await answer(app, [("X-Tenant-Hint", "sent"), ("Origin", "https://host.example")])
    assert response.json() == {"x-tenant-hint": "replaced", "origin": "https://host.example"}
