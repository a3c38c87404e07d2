"""The data plane's in-memory view of a tenant: complete, refreshed on invalidation, never stale."""

from __future__ import annotations

import asyncio

import pytest

from gateway.replica.snapshots import TenantSnapshots
from gateway.tokens.errors import TenantSuspended
from tenants.errors import NotFound, RegistryError
from tenants.resources import TENANTS
from tenants.schemas import TenantUpdate
from tests.conftest import Backend
from tests.support.onboarding import onboard_in_registry

pytestmark = pytest.mark.anyio


@pytest.fixture
def snapshots(backend: Backend) -> TenantSnapshots:
    return TenantSnapshots(backend.store)


async def test_a_snapshot_holds_everything_a_request_reads(
    backend: Backend, snapshots: TenantSnapshots
) -> None:
    made = await onboard_in_registry(backend)
    snapshot = await snapshots.active(made["tenant"]["id"])
    chart = snapshot.chart(made["chart"]["uuid"])
    assert (
        chart
        == snapshot.chart(str(made["chart"]["id"]))
        == await backend.store.chart(snapshot.tenant.id, "1")
    )
    assert snapshot.dashboard("1").chart_ids == (chart.id,)
    assert snapshot.dataset("orders").table_ref == "public.orders"
    assert [f.clause for f in snapshot.row_filters] == ["tenant_id = 7", "region = 'EU'"]
    assert snapshot.warehouse_url("wh") == "postgresql://reader:pg-pass@db:5432/shop"
    for missing in (
        lambda: snapshot.chart("999"),
        lambda: snapshot.dataset("nope"),
        lambda: snapshot.dashboard("x"),
    ):
        with pytest.raises(NotFound):
            missing()


async def test_reads_come_from_memory_until_invalidated(backend: Backend, snapshots: TenantSnapshots) -> None:
    made = await onboard_in_registry(backend)
    tenant_id = made["tenant"]["id"]
    first = await snapshots.active(tenant_id)
    await backend.create("filters", "acme", {"name": "new", "dataset": "orders", "clause": "amount > 0"})
    assert await snapshots.active(tenant_id) is first  # the change is not seen before its event
    snapshots.invalidate(tenant_id)
    assert [f.clause for f in (await snapshots.active(tenant_id)).row_filters][-1] == "amount > 0"


async def test_a_suspended_tenant_is_refused(backend: Backend, snapshots: TenantSnapshots) -> None:
    made = await onboard_in_registry(backend)
    await backend.registry.update(TENANTS, None, "acme", TenantUpdate(status="suspended"), if_match=None)
    with pytest.raises(TenantSuspended):
        await snapshots.active(made["tenant"]["id"])


async def test_a_load_racing_an_invalidation_is_not_kept(
    backend: Backend, snapshots: TenantSnapshots
) -> None:
    made = await onboard_in_registry(backend)
    tenant_id = made["tenant"]["id"]
    loading = asyncio.ensure_future(snapshots.active(tenant_id))
    await asyncio.sleep(0)  # the load has started and read nothing newer than this point
    await backend.create("filters", "acme", {"name": "late", "dataset": "orders", "clause": "amount > 1"})
    snapshots.invalidate(tenant_id)
    await loading
    current = await snapshots.active(tenant_id)
    assert [f.clause for f in current.row_filters][-1] == "amount > 1"


async def test_concurrent_misses_share_one_load(backend: Backend, snapshots: TenantSnapshots) -> None:
    made = await onboard_in_registry(backend)
    loaded = await asyncio.gather(*(snapshots.active(made["tenant"]["id"]) for _ in range(20)))
    assert all(snapshot is loaded[0] for snapshot in loaded)


async def test_a_missing_warehouse_credential_fails_only_that_warehouse(
    backend: Backend, snapshots: TenantSnapshots
) -> None:
    made = await onboard_in_registry(backend)
    await backend.create(
        "warehouses",
        "acme",
        {"name": "envwh", "url": "postgresql://u@db2/x", "password_env": "WAREHOUSE_UNSET_X"},
    )
    await backend.create(
        "datasets",
        "acme",
        {"name": "other", "warehouse": "envwh", "table": "public.t", "columns": [{"name": "region"}]},
    )
    snapshot = await snapshots.active(made["tenant"]["id"])
    assert snapshot.warehouse_url("wh").startswith("postgresql://reader:")
    with pytest.raises(RegistryError, match="WAREHOUSE_UNSET_X"):
        snapshot.warehouse_url("envwh")
