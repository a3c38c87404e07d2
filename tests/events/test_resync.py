"""After an event-feed outage a replica drops exactly what changed meanwhile: the tenants whose registry
version moved, and those deleted, compared with `RegistryStore.registry_versions()`. Nothing else is
reloaded (a replica of many tenants must not stampede the registry after every Redis blip)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.replica.keys import TenantKeys
from gateway.replica.snapshots import TenantSnapshots
from tenants.errors import NotFound
from tenants.resources import TENANTS
from tenants.schemas import TenantUpdate
from tests.conftest import Backend
from tests.support.onboarding import onboard_in_registry

pytestmark = pytest.mark.anyio


async def test_only_the_snapshots_of_changed_or_deleted_tenants_are_dropped(backend: Backend) -> None:
    snapshots = TenantSnapshots(backend.store)
    acme = (await onboard_in_registry(backend))["tenant"]["id"]
    globex = (await backend.create("tenants", None, {"slug": "globex", "name": "G", "origins": []}))["id"]
    initech = (await backend.create("tenants", None, {"slug": "initech", "name": "I", "origins": []}))["id"]
    before = {tenant: await snapshots.active(tenant) for tenant in (acme, globex, initech)}

    # Written while this replica hears nothing: no invalidation reaches it.
    await backend.create("filters", "acme", {"name": "new", "dataset": "orders", "clause": "amount > 0"})
    await backend.registry.delete(TENANTS, None, "initech", if_match=None)
    assert await snapshots.active(acme) is before[acme]

    assert snapshots.reconcile(await backend.store.registry_versions()) == {acme, initech}
    assert await snapshots.active(globex) is before[globex]
    assert [f.clause for f in (await snapshots.active(acme)).row_filters][-1] == "amount > 0"
    with pytest.raises(NotFound):
        await snapshots.active(initech)


async def test_a_load_in_flight_during_the_comparison_is_not_kept(backend: Backend) -> None:
    """Which version an unfinished load read is unknown: it is dropped, whatever it turns out to be."""
    snapshots = TenantSnapshots(backend.store)
    acme = (await onboard_in_registry(backend))["tenant"]["id"]
    versions = await backend.store.registry_versions()
    loading = asyncio.ensure_future(snapshots.active(acme))
    await asyncio.sleep(0)  # started, not finished: it waits for the registry
    assert snapshots.reconcile(versions) == {acme}
    loaded = await loading
    assert await snapshots.active(acme) is not loaded


async def test_keys_and_status_are_reloaded_for_changed_tenants_and_forgotten_for_deleted_ones(
    backend: Backend,
) -> None:
    keys = TenantKeys(backend.store)
    acme = (await onboard_in_registry(backend))["tenant"]["id"]
    globex = (await backend.create("tenants", None, {"slug": "globex", "name": "G", "origins": []}))["id"]
    for tenant in (acme, globex):
        await keys.load_tenant(tenant)
    acme_kid = (await backend.store.signing_keys(acme))[0].kid
    assert keys.keyring.get(acme_kid) is not None

    await backend.registry.update(TENANTS, None, "globex", TenantUpdate(status="suspended"), if_match=None)
    await backend.registry.delete(TENANTS, None, "acme", if_match=None)
    assert keys.tenant_status(globex) == "active"  # nothing told this replica yet

    await keys.reconcile(await backend.store.registry_versions())
    assert keys.tenant_status(globex) == "suspended"
    assert keys.tenant_status(acme) == "unknown"
    assert keys.keyring.get(acme_kid) is None
