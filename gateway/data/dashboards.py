"""`GET /api/v1/dashboard/{id}`: a dashboard's description as the guest token may see it.

A dashboard is visible when the token lists it (by id or uuid) and it belongs to the token's
tenant (`gateway.data.grants`).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.data.grants import granted_dashboard
from gateway.guest.auth import GuestAuth
from gateway.replica.snapshots import TenantSnapshots


class DashboardApi:
    def __init__(self, snapshots: TenantSnapshots, guests: GuestAuth) -> None:
        self._snapshots = snapshots
        self._guests = guests

    def routes(self) -> list[Route]:
        return [Route("/api/v1/dashboard/{ref}", self.describe, methods=["GET"])]

    async def describe(self, request: Request) -> Response:
        claims = await self._guests.claims(request)
        ref = request.path_params["ref"]
        snapshot = await self._snapshots.active(claims.tenant_id)
        dashboard = granted_dashboard(claims, snapshot, ref)
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
