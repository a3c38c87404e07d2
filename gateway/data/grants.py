"""What a guest token grants: its dashboards, their charts (or charts it lists), its datasets.

Anything else is the same 403 `resource_forbidden`, whether it does not exist, belongs to another
tenant or is simply not listed, so a token learns nothing about what it cannot open.
"""

from __future__ import annotations

from gateway.http.errors import ApiError
from gateway.replica.snapshots import TenantSnapshot
from gateway.tokens.claims import GuestClaims
from tenants.errors import NotFound
from tenants.store import Chart, Dashboard, Dataset


class ResourceForbidden(ApiError):
    status = 403
    code = "resource_forbidden"


def granted_dashboard(claims: GuestClaims, snapshot: TenantSnapshot, ref: str) -> Dashboard:
    """The dashboard `ref` (id or uuid), when the token lists it."""
    try:
        dashboard = snapshot.dashboard(ref)
    except NotFound:
        dashboard = None
    if dashboard is None or not _lists_dashboard(claims, dashboard):
        raise ResourceForbidden(f"this token does not grant dashboard {ref[:64]!r}")
    return dashboard


def granted_chart(claims: GuestClaims, snapshot: TenantSnapshot, ref: str, dashboard_id: object) -> Chart:
    """The chart `ref`, when the token lists it or a dashboard holding it (`dashboard_id`, else any)."""
    try:
        chart = snapshot.chart(ref)
    except NotFound:
        chart = None
    if chart is not None and _grants_chart(claims, snapshot, chart, dashboard_id):
        return chart
    raise ResourceForbidden(f"this token does not grant chart {ref[:64]!r}")


def granted_tables(claims: GuestClaims, snapshot: TenantSnapshot) -> list[Dataset]:
    """The table datasets the token lists (by name or id), for free-form queries; at least one."""
    granted = {str(r.id) for r in claims.resources if r.type == "dataset"}
    tables = [
        d
        for d in snapshot.datasets
        if (d.name in granted or str(d.id) in granted) and d.table_ref is not None
    ]
    if not tables:
        raise ResourceForbidden("this token grants no dataset to query")
    return tables


def _lists_dashboard(claims: GuestClaims, dashboard: Dashboard) -> bool:
    names = {str(dashboard.id), dashboard.uuid}
    return any(r.type == "dashboard" and str(r.id) in names for r in claims.resources)


def _grants_chart(claims: GuestClaims, snapshot: TenantSnapshot, chart: Chart, dashboard_id: object) -> bool:
    if dashboard_id is None and any(
        r.type == "chart" and str(r.id) in (str(chart.id), chart.uuid) for r in claims.resources
    ):
        return True
    candidates = (
        [str(dashboard_id)]
        if dashboard_id is not None
        else [str(r.id) for r in claims.resources if r.type == "dashboard"]
    )
    for ref in candidates:
        try:
            dashboard = snapshot.dashboard(ref)
        except NotFound:
            continue
        if _lists_dashboard(claims, dashboard) and chart.id in dashboard.chart_ids:
            return True
    return False
