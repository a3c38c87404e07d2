"""What SQL a data request runs: built, filtered and rewritten once, then remembered.

A plan is the rewritten SQL for a request, with what running and auditing it needs. Everything it
depends on is in its key: the tenant and its registry version (charts, datasets, filters and
warehouses), the fingerprint of the token's rules and user, and the request itself (chart, user
filters, row limit; or the SQL and the datasets the token grants). So a repeated request skips
sqlglot entirely, a registry change or other rules can never reuse a plan, and nothing needs
invalidating: the old keys are simply never asked for again and age out of the LRU.

Refusals are not remembered here (the rewrite cache remembers the rewriter's own).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlglot import exp

from gateway.data.chart_sql import chart_query, sql_chart_query
from gateway.data.result_cache import result_key
from gateway.data.rewrite_pool import RewritePool
from gateway.data.row_policy import RowPolicies
from gateway.lru import LruCache
from gateway.replica.snapshots import TenantSnapshot
from gateway.rls.catalog import Catalog
from gateway.rls.filter_spec import FilterSpec
from gateway.tokens.claims import GuestClaims
from tenants.store import Chart, Dataset

_PLANS: Final = 4096


class ChartNotSupported(ValueError):
    """A chart this gateway cannot serve safely."""


@dataclass(frozen=True, slots=True)
class Plan:
    warehouse: str
    dialect: str
    sql: str  # rewritten: every protected table read is filtered
    row_limit: int
    result_key: str
    predicate_hash: str  # the catalog's fingerprint, for the audit record
    audit: dict[str, Any]


class QueryPlans:
    def __init__(
        self,
        policies: RowPolicies,
        rewrites: RewritePool,
        *,
        maxsize: int = _PLANS,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        """`on_lookup(hit)` is told of every lookup, e.g. to count the hit ratio."""
        self._policies = policies
        self._rewrites = rewrites
        self._on_lookup = on_lookup
        self._plans: LruCache[Hashable, Plan] = LruCache(maxsize)

    async def chart(
        self,
        snapshot: TenantSnapshot,
        claims: GuestClaims,
        chart: Chart,
        user_filters: Sequence[FilterSpec],
        requested_limit: int | None,
    ) -> Plan:
        """Raises ClauseError (a bad user filter), RlsError (rules or rewrite refuse), RegistryError."""
        filters = tuple((f.column, f.op, json.dumps(f.value)) for f in user_filters)
        key = self._key(snapshot, claims, "chart", chart.id, filters, requested_limit)
        return self._cached(key) or self._remember(
            key, await self._chart_plan(snapshot, claims, chart, user_filters, requested_limit)
        )

    async def query(
        self, snapshot: TenantSnapshot, claims: GuestClaims, tables: Sequence[Dataset], sql: str, limit: int
    ) -> Plan:
        """Ad-hoc SQL over `tables` (the token's dataset resources, all of one warehouse)."""
        names = tuple(sorted(d.name for d in tables))
        key = self._key(snapshot, claims, "query", names, sql, limit)
        return self._cached(key) or self._remember(
            key, await self._query_plan(snapshot, claims, tables, sql, limit)
        )

    async def _query_plan(
        self, snapshot: TenantSnapshot, claims: GuestClaims, tables: Sequence[Dataset], sql: str, limit: int
    ) -> Plan:
        warehouse, dialect = tables[0].warehouse, tables[0].dialect
        catalog = await self._policies.catalog(snapshot, claims, tables, warehouse=warehouse, dialect=dialect)
        audit = {"datasets": sorted(d.name for d in tables)}
        return await self._plan(snapshot, warehouse, dialect, sql, catalog, limit, audit)

    async def _chart_plan(
        self,
        snapshot: TenantSnapshot,
        claims: GuestClaims,
        chart: Chart,
        user_filters: Sequence[FilterSpec],
        requested_limit: int | None,
    ) -> Plan:
        dataset = snapshot.dataset(chart.dataset)
        tenant_limit = snapshot.tenant.row_limit
        readable: Sequence[Dataset] = [dataset]
        if chart.query is None:
            # Written as SQL: it may read its own dataset's table, filtered like any query.
            if chart.sql is None or dataset.table_ref is None:
                raise ChartNotSupported("a chart written as SQL must be over a table dataset")
            limit = row_limit(requested_limit, None, tenant_limit)
            query = sql_chart_query(chart.sql, dataset, user_filters=user_filters, row_limit=limit)
        else:
            limit = row_limit(requested_limit, chart.query.get("row_limit"), tenant_limit)
            query = chart_query(chart.query, dataset, user_filters=user_filters, row_limit=limit)
            if dataset.table_ref is None:
                # A virtual dataset's own rules filter its rows; the tables inside it are filtered
                # by theirs through the catalog.
                predicate = await self._policies.predicate(snapshot, claims, dataset)
                if predicate is not None:
                    query = query.where(exp.paren(predicate, copy=False), copy=False)
                readable = snapshot.datasets
        catalog = await self._policies.catalog(
            snapshot, claims, readable, warehouse=dataset.warehouse, dialect=dataset.dialect
        )
        audit = {"chart": chart.id, "dataset": dataset.name}
        sql = query.sql(dataset.dialect)
        return await self._plan(snapshot, dataset.warehouse, dataset.dialect, sql, catalog, limit, audit)

    async def _plan(
        self,
        snapshot: TenantSnapshot,
        warehouse: str,
        dialect: str,
        sql: str,
        catalog: Catalog,
        limit: int,
        audit: dict[str, Any],
    ) -> Plan:
        rewritten = await self._rewrites.rewrite_sql(
            sql, tenant_id=snapshot.tenant.id, dialect=dialect, catalog=catalog
        )
        return Plan(
            warehouse=warehouse,
            dialect=dialect,
            sql=rewritten,
            row_limit=limit,
            # The warehouse's URL, not only its name: a repointed warehouse never answers from old results.
            result_key=result_key(
                snapshot.tenant.id, f"{warehouse}\0{snapshot.warehouse_urls.get(warehouse)}", rewritten, limit
            ),
            predicate_hash=catalog.fingerprint,
            audit=audit,
        )

    def _key(self, snapshot: TenantSnapshot, claims: GuestClaims, *request: Hashable) -> Hashable:
        """What a plan depends on: the tenant's registry as of its version, the token's rules and
        user, and the request."""
        tenant = snapshot.tenant
        return (tenant.id, tenant.registry_version, self._policies.fingerprint(claims), *request)

    def _cached(self, key: Hashable) -> Plan | None:
        plan = self._plans.get(key)
        if self._on_lookup is not None:
            self._on_lookup(plan is not None)
        return plan

    def _remember(self, key: Hashable, plan: Plan) -> Plan:
        self._plans.put(key, plan)
        return plan


def row_limit(requested: int | None, chart_limit: int | None, tenant_limit: int) -> int:
    return min(limit for limit in (requested, chart_limit, tenant_limit) if limit is not None)
