"""What an embedded dashboard calls for data: `POST /api/v1/chart/data` and `POST /api/v1/query`.

Every request: verify the guest token, check the token grants the chart (or the datasets), build
the SQL with sqlglot, rewrite it so every read of a protected table is filtered by the rows this
user may see, then answer from the result cache or the warehouse. Any doubt on the way refuses the
request; no path returns rows the rewriter has not filtered.
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any, Final

from pydantic import Field, StringConstraints
from sqlglot import exp
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.chart_sql import chart_query
from gateway.dashboards import ResourceForbidden, token_lists_dashboard
from gateway.events.bus import Event, EventBus
from gateway.filter_spec import FilterSpec, StrictModel
from gateway.guest_auth import guest_claims
from gateway.metrics import Metrics
from gateway.result_cache import ResultCache, result_key
from gateway.rls.catalog import Catalog
from gateway.rls.errors import ClauseError, RlsError
from gateway.rls.rewrite import RewriteCache
from gateway.row_policy import catalog_for, dataset_predicate
from gateway.tenant_snapshot import TenantSnapshot, TenantSnapshots
from gateway.tokens.claims import GuestClaims
from gateway.tokens.verify import TokenVerifier
from gateway.warehouse import Connectors, Result, WarehouseError, WarehouseTimeout
from gateway.web.bodies import read_json, validate
from gateway.web.errors import ApiError
from tenants.errors import NotFound, RegistryError
from tenants.store import Chart, Tenant

logger = logging.getLogger("gateway.data")
NO_STORE: Final = {"Cache-Control": "no-store"}
Ref = int | Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ChartDataRequest(StrictModel):
    chart_id: Ref
    dashboard_id: Ref | None = None
    filters: list[FilterSpec] = Field(default_factory=list, max_length=50)
    row_limit: int | None = Field(default=None, ge=1)
    force: bool = False


class QueryRequest(StrictModel):
    sql: Annotated[str, StringConstraints(min_length=1, max_length=100_000)]
    row_limit: int | None = Field(default=None, ge=1)


class RowPolicyRefused(ApiError):
    """The request cannot be filtered safely (rewriter refusal, unresolvable rule): no data."""

    status = 403


class BadFilter(ApiError):
    status = 422


class WarehouseFailed(ApiError):
    status = 502
    code = "warehouse_error"


class WarehouseTimedOut(ApiError):
    status = 504
    code = "warehouse_timeout"


class DataApi:
    def __init__(
        self,
        *,
        snapshots: TenantSnapshots,
        verifier: TokenVerifier,
        connectors: Connectors,
        results: ResultCache,
        rewrites: RewriteCache,
        bus: EventBus,
        metrics: Metrics,
        max_body_bytes: int,
    ) -> None:
        self._snapshots = snapshots
        self._verifier = verifier
        self._connectors = connectors
        self._results = results
        self._rewrites = rewrites
        self._bus = bus
        self._metrics = metrics
        self._max_body_bytes = max_body_bytes

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/chart/data", self.chart_data, methods=["POST"]),
            Route("/api/v1/query", self.query, methods=["POST"]),
        ]

    async def chart_data(self, request: Request) -> Response:
        claims = await guest_claims(request, self._verifier)
        body = validate(ChartDataRequest, await read_json(request, max_bytes=self._max_body_bytes))
        snapshot = await self._snapshots.active(claims.tenant_id)
        tenant = snapshot.tenant
        chart = self._granted_chart(claims, snapshot, body)
        dataset = snapshot.dataset(chart.dataset)
        if chart.query is None:
            raise BadFilter("charts written as SQL are not served yet", code="chart_not_supported")
        limit = _row_limit(body.row_limit, chart.query.get("row_limit"), tenant.row_limit)
        filters = snapshot.row_filters
        try:
            query = chart_query(chart.query, dataset, user_filters=body.filters, row_limit=limit)
        except ClauseError as exc:
            raise BadFilter(exc.message, code=exc.code, field="filters") from None
        try:
            if dataset.table_ref is None:
                # A virtual dataset's own rules filter its rows; the tables inside it are filtered
                # by theirs through the catalog.
                predicate = dataset_predicate(dataset, claims, filters)
                if predicate is not None:
                    query = query.where(exp.paren(predicate, copy=False), copy=False)
                readable = list(snapshot.datasets)
            else:
                readable = [dataset]
            catalog = catalog_for(
                readable,
                claims,
                filters,
                warehouse=dataset.warehouse,
                dialect=dataset.dialect,
                default_schema=snapshot.default_schema(dataset.warehouse, dataset.dialect),
            )
        except RlsError as exc:
            raise RowPolicyRefused(exc.message, code=exc.code) from None
        return await self._answer(
            claims, snapshot, dataset.warehouse, dataset.dialect, query.sql(dataset.dialect), catalog, limit,
            force=body.force, audit={"chart": chart.id, "dataset": dataset.name},
        )  # fmt: skip

    async def query(self, request: Request) -> Response:
        claims = await guest_claims(request, self._verifier)
        body = validate(QueryRequest, await read_json(request, max_bytes=self._max_body_bytes))
        snapshot = await self._snapshots.active(claims.tenant_id)
        granted = {str(r.id) for r in claims.resources if r.type == "dataset"}
        tables = [
            d
            for d in snapshot.datasets
            if (d.name in granted or str(d.id) in granted) and d.table_ref is not None
        ]
        if not tables:
            raise ResourceForbidden("this token grants no dataset to query")
        if len({d.warehouse for d in tables}) > 1:
            raise BadFilter(
                "the token's datasets live in several warehouses; query one", code="several_warehouses"
            )
        warehouse, dialect = tables[0].warehouse, tables[0].dialect
        try:
            catalog = catalog_for(
                tables,
                claims,
                snapshot.row_filters,
                warehouse=warehouse,
                dialect=dialect,
                default_schema=snapshot.default_schema(warehouse, dialect),
            )
        except RlsError as exc:
            raise RowPolicyRefused(exc.message, code=exc.code) from None
        limit = _row_limit(body.row_limit, None, snapshot.tenant.row_limit)
        return await self._answer(
            claims, snapshot, warehouse, dialect, body.sql, catalog, limit, force=False,
            audit={"datasets": sorted(d.name for d in tables)},
        )  # fmt: skip

    @staticmethod
    def _granted_chart(claims: GuestClaims, snapshot: TenantSnapshot, body: ChartDataRequest) -> Chart:
        """The chart, when the token lists it or a dashboard holding it; the same 403 otherwise."""
        refused = ResourceForbidden(f"this token does not grant chart {str(body.chart_id)[:64]!r}")
        try:
            chart = snapshot.chart(str(body.chart_id))
        except NotFound:
            raise refused from None
        names = {str(chart.id), chart.uuid}
        if body.dashboard_id is None and any(
            r.type == "chart" and str(r.id) in names for r in claims.resources
        ):
            return chart
        candidates = (
            [str(body.dashboard_id)]
            if body.dashboard_id is not None
            else [str(r.id) for r in claims.resources if r.type == "dashboard"]
        )
        for ref in candidates:
            try:
                dashboard = snapshot.dashboard(ref)
            except NotFound:
                continue
            if token_lists_dashboard(claims, dashboard) and chart.id in dashboard.chart_ids:
                return chart
        raise refused

    async def _answer(
        self,
        claims: GuestClaims,
        snapshot: TenantSnapshot,
        warehouse: str,
        dialect: str,
        sql: str,
        catalog: Catalog,
        row_limit: int,
        *,
        force: bool,
        audit: dict[str, Any],
    ) -> Response:
        try:
            rewritten = self._rewrites.rewrite_sql(sql, dialect=dialect, catalog=catalog)
        except RlsError as exc:
            raise RowPolicyRefused(exc.message, code=exc.code) from None
        tenant = snapshot.tenant
        key = result_key(tenant.id, warehouse, rewritten, row_limit)
        started = time.perf_counter()
        cached = None if force else await self._results.get(key)
        if not force:
            self._metrics.cache_requests.labels("result", "miss" if cached is None else "hit").inc()
        if cached is None:
            result = await self._run(snapshot, warehouse, dialect, rewritten, row_limit)
            answer: dict[str, Any] = {
                "columns": [{"name": c.name, "type": c.type} for c in result.columns],
                "rows": result.rows,
                "rowcount": result.rowcount,
            }
            await self._results.put(key, answer, ttl_seconds=tenant.result_cache_ttl_seconds)
        else:
            answer = cached
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        rows = int(answer["rowcount"])
        await self._audit(claims, tenant, catalog, rows, elapsed_ms, cached is not None, audit)
        return JSONResponse(
            {**answer, "cached": cached is not None, "query_ms": elapsed_ms}, headers=NO_STORE
        )

    async def _run(
        self, snapshot: TenantSnapshot, warehouse: str, connector: str, sql: str, row_limit: int
    ) -> Result:
        seconds = snapshot.tenant.query_timeout_seconds
        try:
            url = snapshot.warehouse_url(warehouse)
            with self._metrics.warehouse_query_seconds.labels(connector).time():
                return await self._connectors.get(url).execute(
                    sql, row_limit=row_limit, timeout=float(seconds)
                )
        except RegistryError as exc:
            raise WarehouseFailed(f"the warehouse cannot be reached: {exc.message}") from None
        except WarehouseTimeout:
            raise WarehouseTimedOut(
                f"the warehouse did not answer within {seconds} s; the query was cancelled"
            ) from None
        except WarehouseError as exc:
            raise WarehouseFailed(f"the warehouse failed: {exc}") from None

    async def _audit(
        self,
        claims: GuestClaims,
        tenant: Tenant,
        catalog: Catalog,
        rows: int,
        elapsed_ms: float,
        cached: bool,
        details: dict[str, Any],
    ) -> None:
        payload = {
            "sub": claims.subject,
            "jti": claims.token_id,
            "predicate_hash": catalog.fingerprint,
            "rows": rows,
            "ms": elapsed_ms,
            "cached": cached,
            **details,
        }
        try:
            await self._bus.publish("audit", Event("data.query", tenant.id, payload))
        except Exception:
            logger.exception("could not record the data.query audit event")


def _row_limit(requested: int | None, chart_limit: int | None, tenant_limit: int) -> int:
    return min(limit for limit in (requested, chart_limit, tenant_limit) if limit is not None)
