"""Security headers: the CSP of HTML answers (shape, nonce, frame-ancestors), and the headers every
answer carries, checked on a small app with the real middleware and on the real gateway over HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.http.request_state import csp_nonce
from tests.dataplane.conftest import Engine
from tests.hardening.conftest import HardenedGateway
from tests.support.edge import edge

pytestmark = pytest.mark.anyio
CSP = re.compile(
    r"default-src 'self'; script-src 'nonce-(?P<nonce>[A-Za-z0-9_-]{22,})' 'strict-dynamic'; "
    r"style-src 'self' 'nonce-(?P=nonce)'; img-src 'self' data:; connect-src 'self'; object-src 'none'; "
    r"base-uri 'none'; form-action 'self'; frame-ancestors (?P<ancestors>[^;]+)"
)


async def page(request: Request) -> Response:
    """An HTML page that allows the framing its query asks for, showing the nonce it was given."""
    if "frame" in request.query_params:
        request.state.frame_ancestors = tuple(request.query_params.getlist("frame"))
    return HTMLResponse(f'<script nonce="{csp_nonce(request)}">1</script>')


async def data(_request: Request) -> Response:
    return JSONResponse({"ok": True})


def small_app() -> Starlette:
    routes = [
        Route("/page", page),
        Route("/embedded/{ref}", page),
        Route("/sdk/embed.js", data),
        Route("/data", data),
    ]
    return Starlette(routes=routes, middleware=[edge()])


async def get(path: str, *, base_url: str = "http://gateway.test") -> httpx.Response:
    transport = httpx.ASGITransport(app=small_app())
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        return await client.get(path)


def csp_of(response: httpx.Response) -> dict[str, Any]:
    match = CSP.fullmatch(response.headers["content-security-policy"])
    assert match is not None, response.headers["content-security-policy"]
    return match.groupdict()


async def test_html_gets_a_csp_whose_nonce_is_the_one_the_page_used_and_new_every_time() -> None:
    first, second = await get("/page"), await get("/page")
    nonces = [csp_of(r)["nonce"] for r in (first, second)]
    assert first.text == f'<script nonce="{nonces[0]}">1</script>'
    assert second.text == f'<script nonce="{nonces[1]}">1</script>'
    assert nonces[0] != nonces[1]


async def test_a_page_is_never_framed_unless_its_handler_names_who_may_frame_it() -> None:
    assert csp_of(await get("/page"))["ancestors"] == "'none'"
    allowed = await get("/embedded/7?frame=https://app.acme.example&frame=https://*.acme.example")
    assert csp_of(allowed)["ancestors"] == "https://app.acme.example https://*.acme.example"
    assert "x-frame-options" not in allowed.headers


async def test_framing_cannot_be_widened_by_a_wildcard_or_injected_into_the_policy() -> None:
    assert csp_of(await get("/embedded/7?frame=*"))["ancestors"] == "'none'"
    injected = await get("/embedded/7?frame=https://a.example; script-src *")
    assert csp_of(injected)["ancestors"] == "'none'"
    assert injected.headers["content-security-policy"].count("script-src") == 1
    mixed = await get("/embedded/7?frame=https://a.example&frame=%27unsafe-inline%27")
    assert csp_of(mixed)["ancestors"] == "https://a.example"


async def test_json_gets_no_csp_but_the_headers_every_answer_carries() -> None:
    response = await get("/data")
    assert "content-security-policy" not in response.headers
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["cross-origin-opener-policy"] == "same-origin"
    assert response.headers["cross-origin-resource-policy"] == "same-origin"


async def test_what_other_sites_embed_is_loadable_cross_origin() -> None:
    for path in ("/embedded/7", "/sdk/embed.js"):
        assert (await get(path)).headers["cross-origin-resource-policy"] == "cross-origin", path


async def test_hsts_only_over_https() -> None:
    assert "strict-transport-security" not in (await get("/page")).headers
    secure = await get("/page", base_url="https://gateway.test")
    assert secure.headers["strict-transport-security"] == "max-age=63072000; includeSubDomains"


def test_the_gateways_answers_and_errors_carry_the_headers(gw: HardenedGateway) -> None:
    answers = [
        gw.http.get("/healthz"),
        gw.http.get("/openapi.json"),
        gw.http.get("/no/such/route"),  # 404
        gw.http.post("/api/v1/chart/data", json={}),  # 401 missing_token
        gw.http.delete("/api/v1/query"),  # 405
        gw.http.get("/api/v1/tenants"),  # 401 from the admin API
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 401, 405, 401]
    for answer in answers:
        headers = answer.headers
        assert headers["x-content-type-options"] == "nosniff", answer.url
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin", answer.url
        assert headers["cross-origin-resource-policy"] == "same-origin", answer.url
        assert headers["cross-origin-opener-policy"] == "same-origin", answer.url
        assert "x-frame-options" not in headers and "strict-transport-security" not in headers, answer.url


def test_the_embedded_page_may_be_framed_by_its_tenants_origins_only(
    gw: HardenedGateway, duckdb_engine: Engine
) -> None:
    tenant, origin = gw.tenant(duckdb_engine)
    page = gw.http.get(f"/embedded/{tenant.dashboard['uuid']}")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = csp_of(page)
    assert policy["ancestors"] == f"{origin} {origin.replace('https://app.', 'https://*.')}"
    assert f'nonce="{policy["nonce"]}"' in page.text
    assert page.headers["cross-origin-resource-policy"] == "cross-origin"
    unknown = gw.http.get("/embedded/999999999")
    assert csp_of(unknown)["ancestors"] == "'none'"
