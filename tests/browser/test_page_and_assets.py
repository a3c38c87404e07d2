"""The embedded page and the files it and hosts load, as served over HTTP (no browser needed)."""

from __future__ import annotations

import re
import uuid

import httpx

from tests.browser.conftest import Demo


def csp_directive(response: httpx.Response, name: str) -> str:
    policy = response.headers["content-security-policy"]
    (directive,) = [part.strip() for part in policy.split(";") if part.strip().startswith(name + " ")]
    return directive


def test_the_page_may_be_framed_only_by_the_dashboards_tenant(demo: Demo) -> None:
    page = httpx.get(f"{demo.gateway_url}/embedded/{demo.dashboard_uuid('acme')}", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    listed = demo.admin.get("/api/v1/tenants/acme/origins").json()["items"]
    sources = csp_directive(page, "frame-ancestors").split()[1:]
    assert demo.host_url in sources and sorted(sources) == sorted(item["origin"] for item in listed)
    assert "no-store" in page.headers["cache-control"]
    # Every script and style of the page carries this response's nonce, and there is no other.
    nonce = re.search(r"'nonce-([^']+)'", csp_directive(page, "script-src"))
    assert nonce is not None
    tags = re.findall(r"<(script|link)\b[^>]*>", page.text)
    assert len(tags) == 3
    assert len(re.findall(rf'<(?:script|link)\b[^>]*\bnonce="{re.escape(nonce.group(1))}"', page.text)) == 3
    again = httpx.get(f"{demo.gateway_url}/embedded/{demo.dashboard_uuid('acme')}", timeout=10)
    assert csp_directive(again, "script-src") != csp_directive(page, "script-src"), "a fresh nonce each time"


def test_an_unknown_dashboard_gets_a_page_nobody_may_frame(demo: Demo) -> None:
    for ref in (str(uuid.uuid4()), "999999", "not a ref <script>"):
        page = httpx.get(f"{demo.gateway_url}/embedded/{ref}", timeout=10)
        assert page.status_code == 200, ref
        assert csp_directive(page, "frame-ancestors") == "frame-ancestors 'none'"
        assert '"allowedOrigins":[]' in page.text and "<script>" not in page.text.split("</head>")[1]


def test_assets_have_their_types_and_cache_headers(demo: Demo) -> None:
    page = httpx.get(f"{demo.gateway_url}/embedded/{demo.dashboard_uuid('acme')}", timeout=10).text
    paths = re.findall(r'(?:src|href)="(assets/[^"]+)"', page)
    assert sorted(path.rsplit("/", 1)[1] for path in paths) == ["page.css", "page.js"]
    for path in paths:  # relative to the page, /embedded/{dashboard}
        asset = httpx.get(f"{demo.gateway_url}/embedded/{path}", timeout=10)
        assert asset.status_code == 200, path
        kind = "text/css" if path.endswith(".css") else "text/javascript"
        assert asset.headers["content-type"].startswith(kind)
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert asset.headers["x-content-type-options"] == "nosniff"
        # Another version's address is not served the current file (it would be cached for good).
        stale = re.sub(r"^assets/[^/]+/", "assets/0000000000000000/", path)
        assert httpx.get(f"{demo.gateway_url}/embedded/{stale}", timeout=10).status_code == 404


def test_the_sdk_can_be_imported_from_any_origin(demo: Demo) -> None:
    sdk = httpx.get(f"{demo.gateway_url}/sdk/embed.js", headers={"Origin": "https://app.example"}, timeout=10)
    assert sdk.status_code == 200
    assert sdk.headers["content-type"].startswith("text/javascript")
    assert sdk.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in sdk.headers
    assert sdk.headers["cross-origin-resource-policy"] == "cross-origin"
    assert sdk.headers["cache-control"] == "public, max-age=300"
    assert "export function embedDashboard" in sdk.text
    unchanged = httpx.get(
        f"{demo.gateway_url}/sdk/embed.js", headers={"If-None-Match": sdk.headers["etag"]}, timeout=10
    )
    assert unchanged.status_code == 304 and unchanged.content == b""
    types = httpx.get(f"{demo.gateway_url}/sdk/embed.d.ts", timeout=10)
    assert types.status_code == 200 and "export function embedDashboard" in types.text
    assert httpx.get(f"{demo.gateway_url}/sdk/other.js", timeout=10).status_code == 404
