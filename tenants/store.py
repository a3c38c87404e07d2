"""The one interface through which the data plane reads the registry.

Plain frozen objects come out, never ORM rows, so nothing in `gateway/` can lazy-load or write by
accident. A missing entity raises `NotFound`; a suspended tenant raises `TenantSuspended` from the
`active_*` lookups the data plane uses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import ColumnElement, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from gateway.warehouse import Column
from tenants import models
from tenants.credentials import client_secret_matches
from tenants.crypto import SecretBox
from tenants.errors import NotFound, RegistryError, TenantSuspended
from tenants.warehouse_urls import with_password


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    slug: str
    name: str
    status: str
    attributes: dict[str, Any]
    dialect: str
    signing_algorithm: str
    token_ttl_seconds: int
    max_token_ttl_seconds: int
    row_limit: int
    query_timeout_seconds: int
    max_result_bytes: int  # the JSON of an answer's rows, at most
    result_cache_ttl_seconds: int
    registry_version: int
    origins: tuple[str, ...]

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class App:
    client_id: str
    tenant_id: str
    name: str
    secret_hash: str
    scopes: tuple[str, ...]
    status: str

    def secret_matches(self, client_secret: str) -> bool:
        """Whether `client_secret` is this app's (constant time; only its hash is stored)."""
        return client_secret_matches(client_secret, self.secret_hash)


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    tenant_id: str
    algorithm: str
    status: str
    public_jwk: dict[str, Any] | None
    created_at: datetime
    rotated_at: datetime | None


@dataclass(frozen=True, slots=True)
class Dataset:
    id: int
    tenant_id: str
    name: str
    warehouse: str
    dialect: str
    table_ref: str | None
    sql: str | None
    columns: tuple[Column, ...]


@dataclass(frozen=True, slots=True)
class Chart:
    id: int
    uuid: str
    tenant_id: str
    dataset: str
    title: str
    viz_type: str
    query: dict[str, Any] | None
    sql: str | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    id: int
    uuid: str
    tenant_id: str
    title: str
    layout: dict[str, Any]
    chart_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class RowFilter:
    id: int
    tenant_id: str
    name: str
    filter_type: str  # "base" | "regular"
    dataset: str  # a dataset name, or "*" for every dataset of the tenant
    clause: str
    group_key: str | None
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    tenant_id: str
    url: str
    event_types: tuple[str, ...]  # "*" means every audit event type
    secret: str = field(repr=False)  # the signing secret, decrypted
    enabled: bool


# Beyond a retiring key's last possible token expiry, to absorb the verifiers' clock leeway.
RETIREMENT_GRACE: Final = timedelta(seconds=60)


def effective_key_status(row: models.SigningKey, max_token_ttl_seconds: int, now: datetime) -> str:
    """A retiring key is retired once every token it can have signed has expired."""
    if row.status == "retiring" and row.rotated_at is not None:
        retire_at = as_utc(row.rotated_at) + timedelta(seconds=max_token_ttl_seconds) + RETIREMENT_GRACE
        if now >= retire_at:
            return "retired"
    return row.status


def tenant_ref_clause(ref: str) -> ColumnElement[bool]:
    """A tenant is named by its slug in URLs; its id works too."""
    return (models.Tenant.slug == ref) | (models.Tenant.id == ref)


MAX_INT_ID: Final = 2**31 - 1


def int_ref(ref: str) -> int | None:
    """`ref` as a row id when it is one (ASCII digits within the id range), else None."""
    if ref.isascii() and ref.isdigit() and int(ref) <= MAX_INT_ID:
        return int(ref)
    return None


def int_or_uuid_clause(model: type[models.Chart] | type[models.Dashboard], ref: str) -> ColumnElement[bool]:
    number = int_ref(ref)
    return model.id == number if number is not None else model.uuid == ref


def as_utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class RegistryStore:
    """Async reads of the registry for the data plane."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], box: SecretBox) -> None:
        self._sessions = sessions
        self._box = box

    async def ping(self) -> None:
        async with self._sessions() as session:
            await session.execute(text("SELECT 1"))

    async def tenant(self, ref: str) -> Tenant:
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(models.Tenant, models.RegistryVersion.version)
                    .join(models.RegistryVersion, models.RegistryVersion.tenant_id == models.Tenant.id)
                    .where(tenant_ref_clause(ref))
                )
            ).first()
            if found is None:
                raise NotFound("tenant", ref)
            row, version = found
            origins = await session.scalars(
                select(models.Origin.origin)
                .where(models.Origin.tenant_id == row.id)
                .order_by(models.Origin.id)
            )
            return tenant_from_row(row, version, tuple(origins))

    async def active_tenant(self, ref: str) -> Tenant:
        tenant = await self.tenant(ref)
        if not tenant.active:
            raise TenantSuspended(tenant.slug)
        return tenant

    async def registry_version(self, tenant_id: str) -> int:
        async with self._sessions() as session:
            version = await session.scalar(
                select(models.RegistryVersion.version).where(models.RegistryVersion.tenant_id == tenant_id)
            )
            if version is None:
                raise NotFound("tenant", tenant_id)
            return version

    async def registry_versions(self) -> dict[str, int]:
        """Every tenant's registry version: what a replica compares its cache with after an outage."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(models.RegistryVersion.tenant_id, models.RegistryVersion.version)
            )
            return {tenant_id: version for tenant_id, version in rows.all()}

    async def app(self, client_id: str) -> App:
        async with self._sessions() as session:
            row = await session.scalar(select(models.App).where(models.App.client_id == client_id))
            if row is None:
                raise NotFound("app", client_id)
            return App(row.client_id, row.tenant_id, row.name, row.secret_hash, tuple(row.scopes), row.status)

    async def signing_keys(self, tenant_id: str | None = None) -> list[SigningKey]:
        """The keys of one tenant, or of every tenant, oldest first, with their effective status."""
        query = (
            select(models.SigningKey, models.Tenant.max_token_ttl_seconds)
            .join(models.Tenant, models.Tenant.id == models.SigningKey.tenant_id)
            .order_by(models.SigningKey.created_at, models.SigningKey.kid)
        )
        if tenant_id is not None:
            query = query.where(models.SigningKey.tenant_id == tenant_id)
        now = datetime.now(UTC)
        async with self._sessions() as session:
            rows = await session.execute(query)
            return [signing_key_from_row(row, effective_key_status(row, ttl, now)) for row, ttl in rows]

    async def signing_key(self, kid: str) -> SigningKey:
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(models.SigningKey, models.Tenant.max_token_ttl_seconds)
                    .join(models.Tenant, models.Tenant.id == models.SigningKey.tenant_id)
                    .where(models.SigningKey.kid == kid)
                )
            ).first()
            if found is None:
                raise NotFound("signing key", kid)
            row, ttl = found
            return signing_key_from_row(row, effective_key_status(row, ttl, datetime.now(UTC)))

    async def private_key(self, kid: str) -> bytes:
        """The decrypted private key (PEM) or HS256 secret of `kid`."""
        async with self._sessions() as session:
            ciphertext = await session.scalar(
                select(models.SigningKey.private_key_encrypted).where(models.SigningKey.kid == kid)
            )
            if ciphertext is None:
                raise NotFound("signing key", kid)
            return self._box.decrypt(ciphertext)

    async def warehouse_url(self, tenant_id: str, name: str) -> str:
        """The connection URL with its password, for the connector that opens it."""
        async with self._sessions() as session:
            row = await session.scalar(
                select(models.Warehouse).where(
                    models.Warehouse.tenant_id == tenant_id, models.Warehouse.name == name
                )
            )
            if row is None:
                raise NotFound("warehouse", name)
            if row.password_encrypted is not None:
                return with_password(row.url, self._box.decrypt(row.password_encrypted).decode())
            if row.password_env is not None:
                password = os.environ.get(row.password_env)
                if password is None:
                    raise RegistryError(f"environment variable {row.password_env} is not set")
                return with_password(row.url, password)
            return row.url

    async def datasets(self, tenant_id: str) -> list[Dataset]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(models.Dataset, models.Warehouse.name, models.Warehouse.dialect)
                .join(models.Warehouse, models.Dataset.warehouse_id == models.Warehouse.id)
                .where(models.Dataset.tenant_id == tenant_id)
                .order_by(models.Dataset.id)
            )
            return [dataset_from_row(row, warehouse, dialect) for row, warehouse, dialect in rows]

    async def dataset(self, tenant_id: str, name: str) -> Dataset:
        for dataset in await self.datasets(tenant_id):
            if dataset.name == name:
                return dataset
        raise NotFound("dataset", name)

    async def charts(self, tenant_id: str) -> list[Chart]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(models.Chart, models.Dataset.name)
                .join(models.Dataset, models.Chart.dataset_id == models.Dataset.id)
                .where(models.Chart.tenant_id == tenant_id)
                .order_by(models.Chart.id)
            )
            return [chart_from_row(row, dataset) for row, dataset in rows]

    async def chart(self, tenant_id: str, ref: str) -> Chart:
        async with self._sessions() as session:
            result = await session.execute(
                select(models.Chart, models.Dataset.name)
                .join(models.Dataset, models.Chart.dataset_id == models.Dataset.id)
                .where(models.Chart.tenant_id == tenant_id, int_or_uuid_clause(models.Chart, ref))
            )
            found = result.first()
            if found is None:
                raise NotFound("chart", ref)
            row, dataset = found
            return chart_from_row(row, dataset)

    async def dashboards(self, tenant_id: str) -> list[Dashboard]:
        async with self._sessions() as session:
            rows = list(
                await session.scalars(
                    select(models.Dashboard)
                    .where(models.Dashboard.tenant_id == tenant_id)
                    .order_by(models.Dashboard.id)
                )
            )
            links = await session.execute(
                select(models.DashboardChart.dashboard_id, models.DashboardChart.chart_id)
                .join(models.Dashboard, models.Dashboard.id == models.DashboardChart.dashboard_id)
                .where(models.Dashboard.tenant_id == tenant_id)
                .order_by(models.DashboardChart.dashboard_id, models.DashboardChart.position)
            )
            chart_ids: dict[int, list[int]] = {}
            for dashboard_id, chart_id in links:
                chart_ids.setdefault(dashboard_id, []).append(chart_id)
            return [dashboard_from_row(row, chart_ids.get(row.id, [])) for row in rows]

    async def dashboard(self, tenant_id: str, ref: str) -> Dashboard:
        async with self._sessions() as session:
            row = await session.scalar(
                select(models.Dashboard).where(
                    models.Dashboard.tenant_id == tenant_id, int_or_uuid_clause(models.Dashboard, ref)
                )
            )
            if row is None:
                raise NotFound("dashboard", ref)
            return dashboard_from_row(row, await dashboard_chart_ids(session, row.id))

    async def dashboard_tenant(self, ref: str) -> str:
        """The id of the tenant owning a dashboard, by the dashboard's uuid or id (the embed page's URL)."""
        async with self._sessions() as session:
            tenant_id = await session.scalar(
                select(models.Dashboard.tenant_id).where(int_or_uuid_clause(models.Dashboard, ref))
            )
            if tenant_id is None:
                raise NotFound("dashboard", ref)
            return tenant_id

    async def all_origins(self) -> set[str]:
        """Every embed origin any tenant allows (exact origins and wildcard patterns)."""
        async with self._sessions() as session:
            return set(await session.scalars(select(models.Origin.origin).distinct()))

    async def row_filters(self, tenant_id: str) -> list[RowFilter]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(models.RowFilter, models.Dataset.name)
                .outerjoin(models.Dataset, models.RowFilter.dataset_id == models.Dataset.id)
                .where(models.RowFilter.tenant_id == tenant_id)
                .order_by(models.RowFilter.id)
            )
            return [row_filter_from_row(row, dataset) for row, dataset in rows]

    async def webhooks(self, tenant_id: str) -> list[Webhook]:
        """Every webhook of a tenant, enabled or not, oldest first, with its secret decrypted."""
        async with self._sessions() as session:
            rows = await session.scalars(
                select(models.Webhook)
                .where(models.Webhook.tenant_id == tenant_id)
                .order_by(models.Webhook.id)
            )
            return [
                Webhook(
                    id=row.id,
                    tenant_id=row.tenant_id,
                    url=row.url,
                    event_types=tuple(row.event_types),
                    secret=self._box.decrypt(row.secret_encrypted).decode(),
                    enabled=row.enabled,
                )
                for row in rows
            ]


def tenant_from_row(row: models.Tenant, registry_version: int, origins: Sequence[str]) -> Tenant:
    return Tenant(
        id=row.id,
        slug=row.slug,
        name=row.name,
        status=row.status,
        attributes=dict(row.attributes),
        dialect=row.dialect,
        signing_algorithm=row.signing_algorithm,
        token_ttl_seconds=row.token_ttl_seconds,
        max_token_ttl_seconds=row.max_token_ttl_seconds,
        row_limit=row.row_limit,
        query_timeout_seconds=row.query_timeout_seconds,
        max_result_bytes=row.max_result_bytes,
        result_cache_ttl_seconds=row.result_cache_ttl_seconds,
        registry_version=registry_version,
        origins=tuple(origins),
    )


def signing_key_from_row(row: models.SigningKey, status: str) -> SigningKey:
    return SigningKey(
        kid=row.kid,
        tenant_id=row.tenant_id,
        algorithm=row.algorithm,
        status=status,
        public_jwk=row.public_jwk,
        created_at=as_utc(row.created_at),
        rotated_at=as_utc(row.rotated_at) if row.rotated_at else None,
    )


def dataset_from_row(row: models.Dataset, warehouse: str, dialect: str) -> Dataset:
    return Dataset(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        warehouse=warehouse,
        dialect=dialect,
        table_ref=row.table_ref,
        sql=row.sql,
        columns=tuple(Column(c["name"], c["type"]) for c in row.columns),
    )


def chart_from_row(row: models.Chart, dataset: str) -> Chart:
    return Chart(row.id, row.uuid, row.tenant_id, dataset, row.title, row.viz_type, row.query, row.sql)


def dashboard_from_row(row: models.Dashboard, chart_ids: Sequence[int]) -> Dashboard:
    return Dashboard(row.id, row.uuid, row.tenant_id, row.title, dict(row.layout), tuple(chart_ids))


def row_filter_from_row(row: models.RowFilter, dataset: str | None) -> RowFilter:
    return RowFilter(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        filter_type=row.filter_type,
        dataset="*" if row.all_datasets else (dataset or ""),
        clause=row.clause,
        group_key=row.group_key,
        roles=tuple(row.roles),
    )


async def dashboard_chart_ids(session: AsyncSession, dashboard_id: int) -> list[int]:
    ids = await session.scalars(
        select(models.DashboardChart.chart_id)
        .where(models.DashboardChart.dashboard_id == dashboard_id)
        .order_by(models.DashboardChart.position)
    )
    return list(ids)
