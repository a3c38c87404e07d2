"""The registry seen from the data plane's side: the store interface, versions, events, suspension,
and what is kept encrypted at rest. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from gateway.bus.events import Event
from tenants import schemas
from tenants.crypto import SecretBox
from tenants.db import session_factory
from tenants.errors import NotFound, TenantSuspended
from tenants.registry import IdempotencyKey
from tenants.resources import TENANTS
from tenants.store import RegistryStore
from tests.conftest import RESOURCES, Backend
from tests.support.onboarding import ORDERS_COLUMNS, onboard_in_registry
from tests.support.services import SECRET_KEY

pytestmark = pytest.mark.anyio


async def test_store_reads_what_onboarding_wrote(backend: Backend) -> None:
    made = await onboard_in_registry(backend)
    store = backend.store
    tenant = await store.tenant("acme")
    assert tenant == await store.tenant(made["tenant"]["id"])
    assert tenant.origins == ("https://a.example",) and tenant.active
    dataset = await store.dataset(tenant.id, "orders")
    assert dataset.dialect == "postgres" and dataset.table_ref == "public.orders"
    assert [c.name for c in dataset.columns] == [c["name"] for c in ORDERS_COLUMNS]
    chart = await store.chart(tenant.id, made["chart"]["uuid"])
    assert chart == await store.chart(tenant.id, str(made["chart"]["id"]))
    assert chart.dataset == "orders"
    dashboard = await store.dashboard(tenant.id, "1")
    assert dashboard.chart_ids == (chart.id,)
    filters = await store.row_filters(tenant.id)
    assert [(f.filter_type, f.dataset, f.clause, f.group_key, f.roles) for f in filters] == [
        ("base", "orders", "tenant_id = 7", "t", ()),
        ("regular", "*", "region = 'EU'", None, ("emea",)),
    ]
    app = await store.app(made["app"]["client_id"])
    assert app.tenant_id == tenant.id and app.secret_hash != made["app"]["client_secret"]
    assert await store.warehouse_url(tenant.id, "wh") == "postgresql://reader:pg-pass@db:5432/shop"
    keys = await store.signing_keys(tenant.id)
    assert len(keys) == 1 and keys[0].algorithm == "EdDSA" and keys[0].status == "active"
    assert (await store.private_key(keys[0].kid)).startswith(b"-----BEGIN PRIVATE KEY-----")
    for missing in (store.tenant("nobody"), store.dataset(tenant.id, "nope"), store.chart(tenant.id, "999")):
        with pytest.raises(NotFound):
            await missing


async def test_secrets_are_encrypted_at_rest(backend: Backend) -> None:
    made = await onboard_in_registry(backend)
    replayable = await backend.registry.create(
        RESOURCES["apps"],
        "acme",
        schemas.AppCreate(name="retried"),
        location_prefix="/x",
        idempotency=IdempotencyKey("key-1", "hash"),
    )
    assert replayable.body is not None
    rows: list[str] = []
    async with backend.engine.connect() as conn:
        for table in ("warehouses", "apps", "signing_keys", "idempotency_records"):
            rows += map(str, (await conn.execute(text(f"SELECT * FROM {table}"))).all())
    dump = " ".join(rows)
    assert "v1:" in dump  # the encrypted values are there
    assert "pg-pass" not in dump
    assert made["app"]["client_secret"] not in dump
    assert replayable.body["client_secret"] not in dump
    assert "PRIVATE KEY" not in dump
    kid = (await backend.store.signing_keys(made["tenant"]["id"]))[0].kid
    wrong_key_store = RegistryStore(session_factory(backend.engine), SecretBox("another-" + SECRET_KEY))
    with pytest.raises(Exception, match="GATEWAY_SECRET_KEY"):
        await wrong_key_store.private_key(kid)


async def test_every_write_bumps_the_version_and_publishes_a_config_event(backend: Backend) -> None:
    tenant = await backend.create("tenants", None, {"slug": "evt", "name": "Events"})
    created = await backend.next_event()
    assert (created.type, created.tenant, created.payload["registry_version"]) == (
        "tenant.created",
        tenant["id"],
        1,
    )

    await backend.create("origins", "evt", {"origin": "https://evt.example"})
    event = await backend.next_event()
    assert (event.type, event.payload["registry_version"]) == ("origin.created", 2)
    assert await backend.store.registry_version(tenant["id"]) == 2

    await backend.registry.update(TENANTS, None, "evt", schemas.TenantUpdate(name="Renamed"), if_match=None)
    event = await backend.next_event()
    assert (event.type, event.payload["registry_version"]) == ("tenant.updated", 3)
    assert (await backend.store.tenant("evt")).registry_version == 3

    await backend.registry.delete(RESOURCES["origins"], "evt", "1", if_match=None)
    event = await backend.next_event()
    assert (event.type, event.payload["ref"], event.payload["registry_version"]) == ("origin.deleted", "1", 4)
    assert Event.from_json(event.to_json()) == event


async def test_failed_writes_publish_nothing_and_keep_the_version(backend: Backend) -> None:
    tenant = await backend.create("tenants", None, {"slug": "calm", "name": "Calm"})
    await backend.next_event()
    with pytest.raises(Exception, match="does not exist"):
        await backend.create(
            "datasets", "calm", {"name": "d", "warehouse": "nope", "table": "t", "columns": ORDERS_COLUMNS}
        )
    assert await backend.store.registry_version(tenant["id"]) == 1
    await backend.create("origins", "calm", {"origin": "https://calm.example"})
    assert (await backend.next_event()).type == "origin.created"  # nothing was queued before it


async def test_suspended_tenant_is_refused_to_the_data_plane_and_can_be_reactivated(backend: Backend) -> None:
    await onboard_in_registry(backend)
    assert (await backend.store.active_tenant("acme")).active
    await backend.registry.update(
        TENANTS, None, "acme", schemas.TenantUpdate(status="suspended"), if_match=None
    )
    with pytest.raises(TenantSuspended) as refused:
        await backend.store.active_tenant("acme")
    assert refused.value.status == 403 and refused.value.code == "tenant_suspended"
    # Operators can still see and fix the configuration of a suspended tenant.
    assert (await backend.store.tenant("acme")).status == "suspended"
    await backend.create("origins", "acme", {"origin": "https://fixed.example"})
    await backend.registry.update(TENANTS, None, "acme", schemas.TenantUpdate(status="active"), if_match=None)
    assert (await backend.store.active_tenant("acme")).origins[-1] == "https://fixed.example"


async def test_writes_to_one_tenant_serialise_their_versions(backend: Backend) -> None:
    tenant = await backend.create("tenants", None, {"slug": "busy", "name": "Busy"})
    await asyncio.gather(
        *(backend.create("origins", "busy", {"origin": f"https://o{i}.busy.example"}) for i in range(10))
    )
    assert await backend.store.registry_version(tenant["id"]) == 11
