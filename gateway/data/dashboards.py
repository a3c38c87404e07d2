"""`GET /api/v1/dashboard/{id}`: a dashboard's description as the guest token may see it.

A dashboard is visible when the token lists it (by id or uuid) and it belongs to the token's
tenant; anything else is the same 403, so a token learns nothing about other tenants' dashboards.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.guest.auth import guest_claims
from gateway.http.errors import ApiError
from gateway.replica.snapshots import TenantSnapshots
from gateway.tokens.claims import GuestClaims
from gateway.tokens.verify import TokenVerifier
from tenants.errors import NotFound
from tenants.store import Dashboard


class ResourceForbidden(ApiError):
    status = 403
    code = "resource_forbidden"


def token_lists_dashboard(claims: GuestClaims, dashboard: Dashboard) -> bool:
    names = {str(dashboard.id), dashboard.uuid}
    return any(r.type == "dashboard" and str(r.id) in names for r in claims.resources)


class DashboardApi:
    def __init__(self, snapshots: TenantSnapshots, verifier: TokenVerifier) -> None:
        self._snapshots = snapshots
        self._verifier = verifier

    def routes(self) -> list[Route]:
        return [Route("/api/v1/dashboard/{ref}", self.describe, methods=["GET"])]

    async def describe(self, request: Request) -> Response:
        claims = await guest_claims(request, self._verifier)
        ref = request.path_params["ref"]
        snapshot = await self._snapshots.active(claims.tenant_id)
        try:
            dashboard = snapshot.dashboard(ref)
        except NotFound:
            dashboard = None
        if dashboard is None or not token_lists_dashboard(claims, dashboard):
            raise ResourceForbidden(f"this token does not grant dashboard {ref[:64]!r}")
        charts = [snapshot.chart(str(chart_id)) for chart_id in dashboard.chart_ids]
        return JSONResponse(
            {
                "id": dashboard.id,
                "uuid": dashboard.uuid,
                "title": dashboard.title,
                "layout": dashboard.layout,
                "charts": [
                    {"id": c.id, "uuid": c.uuid, "title": c.title, "viz_type": c.viz_type} for c in charts
                ],
            },
            headers={"Cache-Control": "no-store"},
        )
