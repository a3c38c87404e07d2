"""One tenant's registry as the data plane reads it on every request: loaded once, kept in memory,
dropped when a `config` event says the tenant changed, or when a comparison of registry versions
after an event-feed outage says it may have (`reconcile`).

This is what keeps registry reads off the hot path. A load racing a change cannot install a stale
snapshot: every invalidation bumps a counter, and a load that finishes after one is discarded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.tokens.errors import TenantSuspended
from gateway.warehouse import default_schema
from tenants.errors import NotFound, RegistryError
from tenants.store import Chart, Dashboard, Dataset, RegistryStore, RowFilter, Tenant


@dataclass(frozen=True, slots=True, weakref_slot=True)  # gateway.data.decision_memo holds it weakly
class TenantSnapshot:
    tenant: Tenant
    datasets: tuple[Dataset, ...]
    charts: Mapping[str, Chart]  # by id and by uuid
    dashboards: Mapping[str, Dashboard]  # by id and by uuid
    row_filters: tuple[RowFilter, ...]
    # Connection URL (with its password) per warehouse; the error text when it cannot be built.
    warehouse_urls: Mapping[str, str | RegistryError]

    def warehouse_url(self, name: str) -> str:
        url = self.warehouse_urls.get(name)
        if isinstance(url, RegistryError):
            raise url
        if url is None:
            raise NotFound("warehouse", name)
        return url

    def default_schema(self, warehouse: str, dialect: str) -> str | None:
        url = self.warehouse_urls.get(warehouse)
        return default_schema(url, dialect) if isinstance(url, str) else None

    def dataset(self, name: str) -> Dataset:
        for dataset in self.datasets:
            if dataset.name == name:
                return dataset
        raise NotFound("dataset", name)

    def chart(self, ref: str) -> Chart:
        chart = self.charts.get(ref)
        if chart is None:
            raise NotFound("chart", ref)
        return chart

    def dashboard(self, ref: str) -> Dashboard:
        dashboard = self.dashboards.get(ref)
        if dashboard is None:
            raise NotFound("dashboard", ref)
        return dashboard


class TenantSnapshots:
    def __init__(self, store: RegistryStore) -> None:
        self._store = store
        self._snapshots: dict[str, TenantSnapshot] = {}
        self._generations: dict[str, int] = {}
        self._loading: dict[str, asyncio.Task[TenantSnapshot]] = {}

    async def active(self, tenant_id: str) -> TenantSnapshot:
        """The snapshot of the tenant a verified guest token names.

        A suspended tenant refuses the token itself (401 tenant_suspended), exactly as the verifier
        does once the suspension event has reached it, so the answer does not depend on timing.
        """
        snapshot = self._snapshots.get(tenant_id)
        if snapshot is None:
            snapshot = await self._load(tenant_id)
        if not snapshot.tenant.active:
            raise TenantSuspended()
        return snapshot

    def invalidate(self, tenant_id: str) -> None:
        self._generations[tenant_id] = self._generations.get(tenant_id, 0) + 1
        self._snapshots.pop(tenant_id, None)

    def reconcile(self, registry_versions: Mapping[str, int]) -> set[str]:
        """Drop exactly the snapshots that may be stale: those loaded at another registry version than
        `registry_versions` (read after the event feed was back), those of tenants no longer in the
        registry, and loads still in flight (which version they read is not known yet). Returns the
        tenants dropped.
        """
        stale = {
            tenant_id
            for tenant_id, snapshot in self._snapshots.items()
            if registry_versions.get(tenant_id) != snapshot.tenant.registry_version
        }
        stale.update(self._loading)
        for tenant_id in stale:
            self.invalidate(tenant_id)
        return stale

    async def _load(self, tenant_id: str) -> TenantSnapshot:
        # Concurrent misses share one load (a burst of requests after a change costs one reload).
        task = self._loading.get(tenant_id)
        if task is None:
            task = asyncio.ensure_future(self._read(tenant_id, self._generations.get(tenant_id, 0)))
            self._loading[tenant_id] = task
            task.add_done_callback(lambda _: self._loading.pop(tenant_id, None))
        return await asyncio.shield(task)

    async def _read(self, tenant_id: str, generation: int) -> TenantSnapshot:
        store = self._store
        tenant = await store.tenant(tenant_id)
        charts: dict[str, Chart] = {}
        dashboards: dict[str, Dashboard] = {}
        for chart in await store.charts(tenant.id):
            charts[str(chart.id)] = charts[chart.uuid] = chart
        for dashboard in await store.dashboards(tenant.id):
            dashboards[str(dashboard.id)] = dashboards[dashboard.uuid] = dashboard
        datasets = tuple(await store.datasets(tenant.id))
        urls: dict[str, str | RegistryError] = {}
        for name in {dataset.warehouse for dataset in datasets}:
            try:
                urls[name] = await store.warehouse_url(tenant.id, name)
            except RegistryError as exc:  # e.g. its password's environment variable is not set
                urls[name] = exc
        snapshot = TenantSnapshot(
            tenant=tenant,
            datasets=datasets,
            charts=charts,
            dashboards=dashboards,
            row_filters=tuple(await store.row_filters(tenant.id)),
            warehouse_urls=urls,
        )
        if self._generations.get(tenant_id, 0) == generation:
            self._snapshots[tenant_id] = snapshot
        return snapshot
