"""`GET /embedded/{dashboard}`: the page a host's iframe shows.

The page holds no data and no token: its script waits for the host's SDK handshake, then asks the data
endpoints with the token (or session) it was given. What the server decides here is who may frame it
and whom its script may listen to: the origins of the tenant owning the dashboard. They go into the
CSP's `frame-ancestors` (through `request.state.frame_ancestors`, see
`gateway.edge.security_headers`) and into the page, whose script accepts a handshake only from them.
A dashboard that does not exist, or whose tenant is suspended, gets the same page with no origin at
all, so it cannot be framed anywhere and nobody learns from a frame whether it exists.
"""

from __future__ import annotations

import html
import json
import re
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from gateway.embed.assets import EmbedAssets
from gateway.http.request_state import csp_nonce
from gateway.replica.snapshots import TenantSnapshots
from gateway.tokens.errors import TenantSuspended
from tenants.errors import NotFound
from tenants.store import RegistryStore

# Dashboards are named by id or uuid; anything else cannot be one, and costs no registry read.
_DASHBOARD_REF: Final = re.compile(r"[0-9A-Za-z-]{1,64}")
PROTOCOL_VERSION: Final = 1


class EmbedPage:
    def __init__(self, store: RegistryStore, snapshots: TenantSnapshots, assets: EmbedAssets) -> None:
        self._store = store
        self._snapshots = snapshots
        self._assets = assets

    def routes(self) -> list[Route]:
        return [Route("/embedded/{ref}", self.page, methods=["GET"]), *self._assets.routes()]

    async def page(self, request: Request) -> Response:
        ref = request.path_params["ref"]
        origins = await self._allowed_origins(ref)
        request.state.frame_ancestors = origins
        body = render_page(
            nonce=csp_nonce(request),
            dashboard=ref if origins else "",
            allowed_origins=origins,
            assets=self._assets,
        )
        return HTMLResponse(body, headers={"Cache-Control": "no-store"})

    async def _allowed_origins(self, ref: str) -> tuple[str, ...]:
        if not _DASHBOARD_REF.fullmatch(ref):
            return ()
        try:
            tenant_id = await self._store.dashboard_tenant(ref)
            snapshot = await self._snapshots.active(tenant_id)
        except (NotFound, TenantSuspended):
            return ()
        return snapshot.tenant.origins


def script_json(value: object) -> str:
    """JSON that can sit inside a <script> element: no `</script>`, no `<!--`, whatever the values."""
    text = json.dumps(value, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render_page(*, nonce: str, dashboard: str, allowed_origins: tuple[str, ...], assets: EmbedAssets) -> str:
    config = {"protocol": PROTOCOL_VERSION, "dashboard": dashboard, "allowedOrigins": list(allowed_origins)}
    attr = html.escape(nonce, quote=True)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Dashboard</title>
<link rel="stylesheet" href="{assets.url("page.css")}" nonce="{attr}">
<script type="application/json" id="gw-config" nonce="{attr}">{script_json(config)}</script>
<script type="module" src="{assets.url("page.js")}" nonce="{attr}"></script>
</head>
<body>
<main id="dashboard" class="dashboard" aria-busy="true">
<div class="status status-waiting" role="status"><p class="status-title">Loading dashboard…</p></div>
</main>
</body>
</html>
"""
