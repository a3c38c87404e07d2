"""What an embedded dashboard calls for data: `POST /api/v1/chart/data` and `POST /api/v1/query`.

Every request: verify the guest token, count it against its tenant's share, check the token grants
the chart (or the datasets), build the SQL with sqlglot, rewrite it so every read of a protected table
is filtered by the rows this user may see, then answer from the result cache or, holding one of the
tenant's query slots, the warehouse. Any doubt on the way refuses the request; no path returns rows
the rewriter has not filtered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Annotated

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.bus.events import Event
from gateway.data.decision_memo import DecisionMemo
from gateway.data.fair_share import FairShares
from gateway.data.grants import granted_chart, granted_tables
from gateway.data.plans import ChartNotSupported, Plan, QueryPlans, row_limit
from gateway.data.result_cache import ResultCache
from gateway.events.audit_trail import AuditTrail
from gateway.guest.auth import GuestAuth
from gateway.http.bodies import StrictModel, parse_json, read_json, read_json_bytes, validate
from gateway.http.errors import ApiError
from gateway.replica.snapshots import TenantSnapshot, TenantSnapshots
from gateway.rls.errors import ClauseError, QueryTooCostly, RlsError
from gateway.rls.filter_spec import FilterSpec
from gateway.telemetry.metrics import Metrics
from gateway.tokens.claims import GuestClaims
from gateway.warehouse import Connectors, Result, ResultTooLarge, WarehouseError, WarehouseTimeout
from tenants.errors import RegistryError
from tenants.store import Tenant

Ref = int | Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ChartDataRequest(StrictModel):
    chart_id: Ref
    dashboard_id: Ref | None = None
    filters: list[FilterSpec] = Field(default_factory=list, max_length=50)
    row_limit: int | None = Field(default=None, ge=1)
    force: bool = False


class QueryRequest(StrictModel):
    # Its length is bounded by the body's and then by the rewriter's (422 `query_too_long`).
    sql: Annotated[str, StringConstraints(min_length=1)]
    row_limit: int | None = Field(default=None, ge=1)


class DataAnswer(Response):
    """The rows of a data request: JSON text made by the result cache, never stored by HTTP caches."""

    media_type = "application/json"

    def init_headers(self, headers: Mapping[str, str] | None = None) -> None:
        # Fixed headers, written once here rather than assembled from a mapping for every answer.
        self.raw_headers = [
            (b"content-length", str(len(self.body)).encode()),
            (b"content-type", b"application/json"),
            (b"cache-control", b"no-store"),
        ]


class RowPolicyRefused(ApiError):
    """The request cannot be filtered safely (rewriter refusal, unresolvable rule): no data."""

    status = 403


class BadFilter(ApiError):
    status = 422


class QueryOverBounds(ApiError):
    """The query (as written, or as a chart and its filters build it) costs more to analyse than allowed."""

    status = 422


class FilterCacheUnavailable(ApiError):
    status = 503
    code = "filter_cache_unavailable"


class WarehouseFailed(ApiError):
    status = 502
    code = "warehouse_error"


class WarehouseTimedOut(ApiError):
    status = 504
    code = "warehouse_timeout"


class AnswerTooLarge(ApiError):
    """The answer passed the tenant's `max_result_bytes`; nothing of it is sent.

    422, not 413: 413 says the request's own content is too large, while this request is well formed
    and only its answer, as asked, cannot be given (fewer rows or columns can).
    """

    status = 422
    code = "result_too_large"


class DataApi:
    def __init__(
        self,
        *,
        snapshots: TenantSnapshots,
        guests: GuestAuth,
        connectors: Connectors,
        results: ResultCache,
        plans: QueryPlans,
        shares: FairShares,
        audit: AuditTrail,
        metrics: Metrics,
        max_body_bytes: int,
    ) -> None:
        self._snapshots = snapshots
        self._guests = guests
        self._connectors = connectors
        self._results = results
        self._plans = plans
        self._shares = shares
        self._audit_trail = audit
        self._metrics = metrics
        self._count_result_lookup = metrics.cache_lookup_counter("result")
        self._count_decision_lookup = metrics.cache_lookup_counter("decision")
        self._max_body_bytes = max_body_bytes
        # A repeated chart request (same token, same body) skips parsing, grant check and plan lookup.
        self._decisions: DecisionMemo[tuple[Plan, bool]] = DecisionMemo()

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/chart/data", self.chart_data, methods=["POST"]),
            Route("/api/v1/query", self.query, methods=["POST"]),
        ]

    async def chart_data(self, request: Request) -> Response:
        claims = await self._guests.claims(request)
        await self._shares.admit(claims)
        raw = await read_json_bytes(request, max_bytes=self._max_body_bytes)
        snapshot = await self._snapshots.active(claims.tenant_id)
        decided = self._decisions.get(claims, snapshot, raw)
        self._count_decision_lookup(decided is not None)
        if decided is None:
            decided = self._decisions.remember(
                claims, snapshot, raw, await self._chart_decision(claims, snapshot, raw)
            )
        plan, force = decided
        return await self._answer(claims, snapshot, plan, force=force)

    async def _chart_decision(
        self, claims: GuestClaims, snapshot: TenantSnapshot, raw: bytes
    ) -> tuple[Plan, bool]:
        body = validate(ChartDataRequest, parse_json(raw))
        chart = granted_chart(claims, snapshot, str(body.chart_id), body.dashboard_id)
        try:
            plan = await self._plans.chart(snapshot, claims, chart, body.filters, body.row_limit)
        except ClauseError as exc:
            raise BadFilter(exc.message, code=exc.code, field="filters") from None
        except ChartNotSupported as exc:
            raise BadFilter(str(exc), code="chart_not_supported") from None
        except RlsError as exc:
            raise _refusal(exc) from None
        return plan, body.force

    async def query(self, request: Request) -> Response:
        claims = await self._guests.claims(request)
        await self._shares.admit(claims)
        body = validate(QueryRequest, await read_json(request, max_bytes=self._max_body_bytes))
        snapshot = await self._snapshots.active(claims.tenant_id)
        tables = granted_tables(claims, snapshot)
        if len({d.warehouse for d in tables}) > 1:
            raise BadFilter(
                "the token's datasets live in several warehouses; query one", code="several_warehouses"
            )
        limit = row_limit(body.row_limit, None, snapshot.tenant.row_limit)
        try:
            plan = await self._plans.query(snapshot, claims, tables, body.sql, limit)
        except RlsError as exc:
            raise _refusal(exc) from None
        return await self._answer(claims, snapshot, plan, force=False)

    async def _answer(
        self, claims: GuestClaims, snapshot: TenantSnapshot, plan: Plan, *, force: bool
    ) -> Response:
        tenant = snapshot.tenant
        started = time.perf_counter()
        cached = None if force else await self._results.get(plan.result_key)
        if cached is not None and len(cached) > tenant.max_result_bytes:
            cached = None  # stored before the tenant's bound was lowered: asked again, and refused
        if not force:
            self._count_result_lookup(cached is not None)
        if cached is None:
            async with self._shares.warehouse_slot(claims):
                result = await self._run(snapshot, plan)
            answer = await self._results.put(
                plan.result_key, _answer_json(result), ttl_seconds=tenant.result_cache_ttl_seconds
            )
            rows = result.rowcount
        else:
            answer = cached
            rows = int(answer[answer.rindex(":") + 1 : -1])  # the entry ends with "rowcount":N}
        elapsed_ms = round((time.perf_counter() - started) * 1000, 3)
        self._audit(claims, tenant, plan, rows, elapsed_ms, cached is not None)
        # The stored answer is JSON text: complete it rather than parse and serialise it again.
        suffix = f',"cached":{"true" if cached is not None else "false"},"query_ms":{elapsed_ms}}}'
        return DataAnswer(answer[:-1] + suffix)

    async def _run(self, snapshot: TenantSnapshot, plan: Plan) -> Result:
        seconds = snapshot.tenant.query_timeout_seconds
        max_bytes = snapshot.tenant.max_result_bytes
        try:
            url = snapshot.warehouse_url(plan.warehouse)
            with self._metrics.warehouse_query_seconds.labels(plan.dialect).time():
                return await self._connectors.get(url).execute(
                    plan.sql, row_limit=plan.row_limit, timeout=float(seconds), max_bytes=max_bytes
                )
        except RegistryError as exc:
            raise WarehouseFailed(f"the warehouse cannot be reached: {exc.message}") from None
        except WarehouseTimeout:
            raise WarehouseTimedOut(
                f"the warehouse did not answer within {seconds} s; the query was cancelled"
            ) from None
        except ResultTooLarge:
            raise AnswerTooLarge(
                f"the answer is larger than this tenant's max_result_bytes ({max_bytes} bytes);"
                " ask for fewer rows or columns"
            ) from None
        except WarehouseError as exc:
            raise WarehouseFailed(f"the warehouse failed: {exc}") from None

    def _audit(
        self, claims: GuestClaims, tenant: Tenant, plan: Plan, rows: int, elapsed_ms: float, cached: bool
    ) -> None:
        payload = {
            "sub": claims.subject,
            "jti": claims.token_id,
            "predicate_hash": plan.predicate_hash,
            "rows": rows,
            "ms": elapsed_ms,
            "cached": cached,
            **plan.audit,
        }
        self._audit_trail.record(Event("data.query", tenant.id, payload))


def _answer_json(result: Result) -> str:
    """`{"columns", "rows", "rowcount"}` as compact JSON, around the rows the connector encoded."""
    columns = json.dumps(
        [{"name": c.name, "type": c.type} for c in result.columns], ensure_ascii=False, separators=(",", ":")
    )
    return f'{{"columns":{columns},"rows":{result.rows_as_json()},"rowcount":{result.rowcount}}}'


def _refusal(exc: RlsError) -> ApiError:
    """A rewriter or resolution refusal: 403 with its code; 422 for a query over the rewriter's bounds;
    503 when the filter cache is unreachable."""
    if exc.code == "cache_unavailable":
        return FilterCacheUnavailable("resolved filters cannot be read; try again shortly")
    if isinstance(exc, QueryTooCostly):
        return QueryOverBounds(exc.message, code=exc.code)
    return RowPolicyRefused(exc.message, code=exc.code)
