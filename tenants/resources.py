"""What each kind of registry entity is: how a request body becomes a row, how a row is shown, and
the rules that span entities (references exist in the same tenant, filter clauses use only their
dataset's columns, nothing in use is deleted).

`tenants.registry` runs these inside one transaction per request; nothing here commits.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.http.outbound import InvalidWebhookTarget, check_webhook_url
from gateway.tokens.keys import Algorithm, generate_key
from tenants import models, schemas
from tenants.credentials import hash_client_secret, new_client_id, new_client_secret
from tenants.crypto import SecretBox
from tenants.errors import Conflict, Invalid, NotFound
from tenants.introspection import ColumnIntrospection
from tenants.sql_checks import (
    DatasetShape,
    check_clause,
    check_query_spec,
    check_table_reference,
    column_names,
    single_query,
)
from tenants.store import (
    as_utc,
    dashboard_chart_ids,
    effective_key_status,
    int_or_uuid_clause,
    int_ref,
    tenant_ref_clause,
)
from tenants.warehouse_urls import InvalidWarehouseUrl, WarehouseUrl, parse_warehouse_url


@dataclass(frozen=True, slots=True)
class WriteSettings:
    """What the operator configured for every write."""

    # GATEWAY_WEBHOOK_ALLOW_PRIVATE: webhooks may target http and internal addresses.
    webhook_allow_private: bool = False


@dataclass(slots=True)
class WriteContext:
    session: AsyncSession
    box: SecretBox
    tenant: models.Tenant | None  # the parent; None only while creating or listing tenants
    settings: WriteSettings


def _tenant(ctx: WriteContext) -> models.Tenant:
    assert ctx.tenant is not None, "nested resources are always written under a tenant"
    return ctx.tenant


class Resource:
    """One kind of registry entity. Subclasses fill in the class variables and the hooks they need."""

    kind: ClassVar[str]
    collection: ClassVar[str]
    model: ClassVar[type[Any]]
    create_body: ClassVar[type[schemas.Body] | None] = None
    update_body: ClassVar[type[schemas.Body] | None] = None
    deletable: ClassVar[bool] = True
    # PATCH fields that may be set to null; a null for any other field is refused.
    nullable: ClassVar[frozenset[str]] = frozenset()

    def where(self, ref: str) -> ColumnElement[bool]:
        number = int_ref(ref)
        if number is None:
            raise NotFound(self.kind, ref)
        return self.model.id == number  # type: ignore[no-any-return]

    def order_column(self) -> Any:
        return self.model.id

    def ref(self, row: Any) -> str:
        return str(row.id)

    async def complete(self, body: Any, *, tenant_ref: str | None, introspection: ColumnIntrospection) -> Any:
        """`body` with what it left out filled in from outside the registry, before the write
        transaction begins (so that no lock is held while a warehouse answers)."""
        return body

    async def create(self, ctx: WriteContext, body: Any) -> tuple[Any, dict[str, Any]]:
        """Add a new row for `body`; the dict holds what the answer shows once (e.g. a secret)."""
        raise NotImplementedError

    async def update(self, ctx: WriteContext, row: Any, changes: dict[str, Any]) -> None:
        for name, value in changes.items():
            setattr(row, name, value)

    async def before_delete(self, ctx: WriteContext, row: Any) -> None:
        """Refuse (Conflict) when other entities still use `row`."""

    async def render(self, session: AsyncSession, row: Any) -> dict[str, Any]:
        raise NotImplementedError


def _timestamps(row: Any) -> dict[str, str]:
    return {
        "created_at": as_utc(row.created_at).isoformat(),
        "updated_at": as_utc(row.updated_at).isoformat(),
    }


async def _exists(session: AsyncSession, *where: ColumnElement[bool], model: type[Any]) -> bool:
    return bool(await session.scalar(select(func.count()).select_from(model).where(*where)))


class TenantResource(Resource):
    kind = "tenant"
    collection = "tenants"
    model = models.Tenant
    create_body = schemas.TenantCreate
    update_body = schemas.TenantUpdate

    def where(self, ref: str) -> ColumnElement[bool]:
        return tenant_ref_clause(ref)

    def ref(self, row: Any) -> str:
        return str(row.slug)

    async def create(self, ctx: WriteContext, body: schemas.TenantCreate) -> tuple[Any, dict[str, Any]]:
        if await _exists(ctx.session, models.Tenant.slug == body.slug, model=models.Tenant):
            raise Conflict(f"tenant slug {body.slug!r} is taken", field="slug")
        tenant = models.Tenant(**body.model_dump(exclude={"origins"}))
        ctx.session.add(tenant)
        await ctx.session.flush()
        ctx.session.add(models.RegistryVersion(tenant_id=tenant.id, version=1))
        ctx.session.add(new_signing_key(tenant, ctx.box))
        for origin in dict.fromkeys(body.origins):
            ctx.session.add(models.Origin(tenant_id=tenant.id, origin=origin))
        return tenant, {}

    async def update(self, ctx: WriteContext, row: models.Tenant, changes: dict[str, Any]) -> None:
        ttl = changes.get("token_ttl_seconds", row.token_ttl_seconds)
        cap = changes.get("max_token_ttl_seconds", row.max_token_ttl_seconds)
        if ttl > cap:
            raise Invalid(
                f"token_ttl_seconds ({ttl}) must not exceed max_token_ttl_seconds ({cap})",
                field="token_ttl_seconds",
            )
        await super().update(ctx, row, changes)

    async def render(self, session: AsyncSession, row: models.Tenant) -> dict[str, Any]:
        return {
            "id": row.id,
            "slug": row.slug,
            "name": row.name,
            "status": row.status,
            "attributes": row.attributes,
            "dialect": row.dialect,
            "signing_algorithm": row.signing_algorithm,
            "token_ttl_seconds": row.token_ttl_seconds,
            "max_token_ttl_seconds": row.max_token_ttl_seconds,
            "row_limit": row.row_limit,
            "query_timeout_seconds": row.query_timeout_seconds,
            "max_result_bytes": row.max_result_bytes,
            "result_cache_ttl_seconds": row.result_cache_ttl_seconds,
            **_timestamps(row),
        }


def new_signing_key(tenant: models.Tenant, box: SecretBox) -> models.SigningKey:
    algorithm: Algorithm = tenant.signing_algorithm  # type: ignore[assignment]
    key = generate_key(algorithm)
    return models.SigningKey(
        kid=key.kid,
        tenant_id=tenant.id,
        algorithm=key.algorithm,
        status="active",
        public_jwk=key.public_jwk,
        private_key_encrypted=box.encrypt(key.private),
    )


class AppResource(Resource):
    kind = "app"
    collection = "apps"
    model = models.App
    create_body = schemas.AppCreate
    update_body = schemas.AppUpdate

    def where(self, ref: str) -> ColumnElement[bool]:
        return models.App.client_id == ref

    def ref(self, row: Any) -> str:
        return str(row.client_id)

    async def create(self, ctx: WriteContext, body: schemas.AppCreate) -> tuple[Any, dict[str, Any]]:
        secret = new_client_secret()
        app = models.App(
            tenant_id=_tenant(ctx).id,
            client_id=new_client_id(),
            name=body.name,
            secret_hash=hash_client_secret(secret),
            scopes=sorted(set(body.scopes)),
        )
        ctx.session.add(app)
        return app, {"client_secret": secret}

    async def update(self, ctx: WriteContext, row: models.App, changes: dict[str, Any]) -> None:
        if "scopes" in changes:
            changes["scopes"] = sorted(set(changes["scopes"]))
        await super().update(ctx, row, changes)

    async def render(self, session: AsyncSession, row: models.App) -> dict[str, Any]:
        return {
            "client_id": row.client_id,
            "name": row.name,
            "scopes": row.scopes,
            "status": row.status,
            **_timestamps(row),
        }


class WarehouseResource(Resource):
    kind = "warehouse"
    collection = "warehouses"
    model = models.Warehouse
    create_body = schemas.WarehouseCreate
    update_body = schemas.WarehouseUpdate
    nullable = frozenset({"password_env"})

    def where(self, ref: str) -> ColumnElement[bool]:
        return models.Warehouse.name == ref

    def ref(self, row: Any) -> str:
        return str(row.name)

    async def create(self, ctx: WriteContext, body: schemas.WarehouseCreate) -> tuple[Any, dict[str, Any]]:
        tenant = _tenant(ctx)
        taken = (models.Warehouse.tenant_id == tenant.id) & (models.Warehouse.name == body.name)
        if await _exists(ctx.session, taken, model=models.Warehouse):
            raise Conflict(f"warehouse {body.name!r} exists already", field="name")
        row = models.Warehouse(tenant_id=tenant.id, name=body.name)
        self._set_connection(row, body.url, body.password_env, ctx.box)
        ctx.session.add(row)
        return row, {}

    async def update(self, ctx: WriteContext, row: models.Warehouse, changes: dict[str, Any]) -> None:
        """A new URL without a password keeps the stored credentials; one with a password replaces them."""
        old_dialect = row.dialect
        if "url" in changes:
            parsed = self._parse(changes["url"])
            row.url, row.dialect = parsed.url, parsed.dialect
            if parsed.password is not None:
                if changes.get("password_env") is not None:
                    raise Invalid(
                        "give the password in the URL or name password_env, not both", field="password_env"
                    )
                row.password_encrypted, row.password_env = ctx.box.encrypt(parsed.password.encode()), None
        if "password_env" in changes:
            row.password_env = changes["password_env"]
            if row.password_env is not None:
                row.password_encrypted = None
        if row.dialect != old_dialect and await _exists(
            ctx.session, models.Dataset.warehouse_id == row.id, model=models.Dataset
        ):
            raise Conflict(
                f"datasets use this {old_dialect} warehouse; register another warehouse for {row.dialect}",
                field="url",
            )

    @staticmethod
    def _parse(raw_url: str) -> WarehouseUrl:
        try:
            return parse_warehouse_url(raw_url)
        except InvalidWarehouseUrl as exc:
            raise Invalid(str(exc), field="url") from None

    def _set_connection(
        self, row: models.Warehouse, raw_url: str, password_env: str | None, box: SecretBox
    ) -> None:
        parsed = self._parse(raw_url)
        if parsed.password is not None and password_env is not None:
            raise Invalid("give the password in the URL or name password_env, not both", field="password_env")
        row.url = parsed.url
        row.dialect = parsed.dialect
        row.password_env = password_env
        row.password_encrypted = (
            box.encrypt(parsed.password.encode()) if parsed.password is not None else None
        )

    async def before_delete(self, ctx: WriteContext, row: models.Warehouse) -> None:
        names = await ctx.session.scalars(
            select(models.Dataset.name).where(models.Dataset.warehouse_id == row.id)
        )
        if used_by := list(names):
            raise Conflict(f"datasets {used_by} use warehouse {row.name!r}; delete or move them first")

    async def render(self, session: AsyncSession, row: models.Warehouse) -> dict[str, Any]:
        credentials = (
            "encrypted" if row.password_encrypted else ("environment" if row.password_env else "none")
        )
        return {
            "name": row.name,
            "url": row.url,
            "dialect": row.dialect,
            "credentials": credentials,
            "password_env": row.password_env,
            **_timestamps(row),
        }


async def _dataset_shapes(session: AsyncSession, tenant_id: str) -> list[DatasetShape]:
    rows = await session.execute(
        select(models.Dataset.name, models.Warehouse.dialect, models.Dataset.columns)
        .join(models.Warehouse, models.Dataset.warehouse_id == models.Warehouse.id)
        .where(models.Dataset.tenant_id == tenant_id)
    )
    return [DatasetShape(name, dialect, column_names(columns)) for name, dialect, columns in rows]


class DatasetResource(Resource):
    kind = "dataset"
    collection = "datasets"
    model = models.Dataset
    create_body = schemas.DatasetCreate
    update_body = schemas.DatasetUpdate

    def where(self, ref: str) -> ColumnElement[bool]:
        number = int_ref(ref)
        return models.Dataset.id == number if number is not None else models.Dataset.name == ref

    def ref(self, row: Any) -> str:
        return str(row.name)

    async def complete(
        self, body: schemas.DatasetCreate, *, tenant_ref: str | None, introspection: ColumnIntrospection
    ) -> schemas.DatasetCreate:
        if body.columns is not None:
            return body
        assert tenant_ref is not None
        columns = await introspection.columns(tenant_ref, body.warehouse, table=body.table, sql=body.sql)
        return body.model_copy(update={"columns": columns})

    async def create(self, ctx: WriteContext, body: schemas.DatasetCreate) -> tuple[Any, dict[str, Any]]:
        tenant = _tenant(ctx)
        warehouse = await ctx.session.scalar(
            select(models.Warehouse).where(
                models.Warehouse.tenant_id == tenant.id, models.Warehouse.name == body.warehouse
            )
        )
        if warehouse is None:
            raise Invalid(f"warehouse {body.warehouse!r} does not exist", field="warehouse")
        taken = (models.Dataset.tenant_id == tenant.id) & (models.Dataset.name == body.name)
        if await _exists(ctx.session, taken, model=models.Dataset):
            raise Conflict(f"dataset {body.name!r} exists already", field="name")
        assert body.columns is not None, "complete() fills them in"
        row = models.Dataset(
            tenant_id=tenant.id,
            name=body.name,
            warehouse_id=warehouse.id,
            table_ref=body.table,
            sql=body.sql,
            columns=[c.model_dump() for c in body.columns],
            description=body.description,
        )
        await self._validate(ctx, row, warehouse.dialect)
        ctx.session.add(row)
        return row, {}

    async def update(self, ctx: WriteContext, row: models.Dataset, changes: dict[str, Any]) -> None:
        if "table" in changes:
            row.table_ref, row.sql = changes.pop("table"), None
        if "sql" in changes:
            row.sql, row.table_ref = changes.pop("sql"), None
        await super().update(ctx, row, changes)
        dialect = await ctx.session.scalar(
            select(models.Warehouse.dialect).where(models.Warehouse.id == row.warehouse_id)
        )
        assert dialect is not None
        await self._validate(ctx, row, dialect)

    async def _validate(self, ctx: WriteContext, row: models.Dataset, dialect: str) -> None:
        """The dataset's source parses, and every filter and chart over it still fits its columns."""
        if row.table_ref is not None:
            row.table_ref = check_table_reference(row.table_ref, dialect)
        else:
            single_query(row.sql or "", dialect, field="sql")
        shape = DatasetShape(row.name, dialect, column_names(row.columns))
        filters = await ctx.session.scalars(
            select(models.RowFilter).where(
                models.RowFilter.tenant_id == row.tenant_id,
                models.RowFilter.all_datasets | (models.RowFilter.dataset_id == row.id),
            )
        )
        for row_filter in filters:
            try:
                check_clause(row_filter.clause, [shape], fallback_dialect=dialect, field="columns")
            except Invalid as exc:
                raise Invalid(
                    f"filter {row_filter.name!r} no longer fits: {exc.message}", field="columns"
                ) from None
        if row.id is None:
            return
        charts = await ctx.session.scalars(select(models.Chart).where(models.Chart.dataset_id == row.id))
        for chart in charts:
            if chart.query is not None:
                try:
                    check_query_spec(chart.query, shape.columns, field="query")
                except Invalid as exc:
                    raise Invalid(
                        f"chart {chart.title!r} no longer fits: {exc.message}", field="columns"
                    ) from None

    async def before_delete(self, ctx: WriteContext, row: models.Dataset) -> None:
        titles = await ctx.session.scalars(
            select(models.Chart.title).where(models.Chart.dataset_id == row.id)
        )
        if used_by := list(titles):
            raise Conflict(f"charts {used_by} use dataset {row.name!r}; delete them first")
        # Deleting the filters with the dataset would leave a re-created dataset unfiltered.
        filters = await ctx.session.scalars(
            select(models.RowFilter.name).where(models.RowFilter.dataset_id == row.id)
        )
        if guarded_by := list(filters):
            raise Conflict(f"row filters {guarded_by} protect dataset {row.name!r}; delete them first")

    async def render(self, session: AsyncSession, row: models.Dataset) -> dict[str, Any]:
        warehouse = await session.scalar(
            select(models.Warehouse.name).where(models.Warehouse.id == row.warehouse_id)
        )
        return {
            "id": row.id,
            "name": row.name,
            "warehouse": warehouse,
            "table": row.table_ref,
            "sql": row.sql,
            "columns": row.columns,
            "description": row.description,
            **_timestamps(row),
        }


async def _dataset_in_tenant(ctx: WriteContext, name: str, *, field: str) -> models.Dataset:
    row = await ctx.session.scalar(
        select(models.Dataset).where(models.Dataset.tenant_id == _tenant(ctx).id, models.Dataset.name == name)
    )
    if row is None:
        raise Invalid(f"dataset {name!r} does not exist", field=field)
    return row


async def _dialect_of(session: AsyncSession, dataset: models.Dataset) -> str:
    dialect = await session.scalar(
        select(models.Warehouse.dialect).where(models.Warehouse.id == dataset.warehouse_id)
    )
    assert dialect is not None
    return dialect


class ChartResource(Resource):
    kind = "chart"
    collection = "charts"
    model = models.Chart
    create_body = schemas.ChartCreate
    update_body = schemas.ChartUpdate

    def where(self, ref: str) -> ColumnElement[bool]:
        return int_or_uuid_clause(models.Chart, ref)

    async def create(self, ctx: WriteContext, body: schemas.ChartCreate) -> tuple[Any, dict[str, Any]]:
        dataset = await _dataset_in_tenant(ctx, body.dataset, field="dataset")
        row = models.Chart(
            uuid=str(uuid.uuid4()),
            tenant_id=dataset.tenant_id,
            dataset_id=dataset.id,
            title=body.title,
            viz_type=body.viz_type,
            query=body.query.model_dump() if body.query else None,
            sql=body.sql,
        )
        await self._validate(ctx.session, row, dataset)
        ctx.session.add(row)
        return row, {}

    async def update(self, ctx: WriteContext, row: models.Chart, changes: dict[str, Any]) -> None:
        if "query" in changes:
            row.query, row.sql = changes.pop("query"), None
        if "sql" in changes:
            row.sql, row.query = changes.pop("sql"), None
        await super().update(ctx, row, changes)
        dataset = await ctx.session.get(models.Dataset, row.dataset_id)
        assert dataset is not None
        await self._validate(ctx.session, row, dataset)

    @staticmethod
    async def _validate(session: AsyncSession, row: models.Chart, dataset: models.Dataset) -> None:
        if row.query is not None:
            check_query_spec(row.query, column_names(dataset.columns), field="query")
        else:
            single_query(row.sql or "", await _dialect_of(session, dataset), field="sql")

    async def before_delete(self, ctx: WriteContext, row: models.Chart) -> None:
        titles = await ctx.session.scalars(
            select(models.Dashboard.title)
            .join(models.DashboardChart, models.DashboardChart.dashboard_id == models.Dashboard.id)
            .where(models.DashboardChart.chart_id == row.id)
        )
        if used_by := list(titles):
            raise Conflict(f"dashboards {used_by} show this chart; remove it from them first")

    async def render(self, session: AsyncSession, row: models.Chart) -> dict[str, Any]:
        dataset = await session.scalar(select(models.Dataset.name).where(models.Dataset.id == row.dataset_id))
        return {
            "id": row.id,
            "uuid": row.uuid,
            "title": row.title,
            "dataset": dataset,
            "viz_type": row.viz_type,
            "query": row.query,
            "sql": row.sql,
            **_timestamps(row),
        }


class DashboardResource(Resource):
    kind = "dashboard"
    collection = "dashboards"
    model = models.Dashboard
    create_body = schemas.DashboardCreate
    update_body = schemas.DashboardUpdate

    def where(self, ref: str) -> ColumnElement[bool]:
        return int_or_uuid_clause(models.Dashboard, ref)

    async def create(self, ctx: WriteContext, body: schemas.DashboardCreate) -> tuple[Any, dict[str, Any]]:
        row = models.Dashboard(
            uuid=str(uuid.uuid4()), tenant_id=_tenant(ctx).id, title=body.title, layout=body.layout
        )
        ctx.session.add(row)
        await ctx.session.flush()
        await self._set_charts(ctx, row, body.charts)
        return row, {}

    async def update(self, ctx: WriteContext, row: models.Dashboard, changes: dict[str, Any]) -> None:
        charts = changes.pop("charts", None)
        await super().update(ctx, row, changes)
        if charts is not None:
            await self._set_charts(ctx, row, charts)

    async def _set_charts(self, ctx: WriteContext, row: models.Dashboard, refs: Sequence[int | str]) -> None:
        chart_ids: list[int] = []
        for i, ref in enumerate(refs):
            chart_id = await ctx.session.scalar(
                select(models.Chart.id).where(
                    models.Chart.tenant_id == row.tenant_id, int_or_uuid_clause(models.Chart, str(ref))
                )
            )
            if chart_id is None:
                raise Invalid(f"chart {ref!r} does not exist in this tenant", field=f"charts[{i}]")
            if chart_id in chart_ids:
                raise Invalid(f"chart {ref!r} is listed twice", field=f"charts[{i}]")
            chart_ids.append(chart_id)
        await ctx.session.execute(
            delete(models.DashboardChart).where(models.DashboardChart.dashboard_id == row.id)
        )
        for position, chart_id in enumerate(chart_ids):
            ctx.session.add(models.DashboardChart(dashboard_id=row.id, chart_id=chart_id, position=position))

    async def render(self, session: AsyncSession, row: models.Dashboard) -> dict[str, Any]:
        return {
            "id": row.id,
            "uuid": row.uuid,
            "title": row.title,
            "layout": row.layout,
            "charts": await dashboard_chart_ids(session, row.id),
            **_timestamps(row),
        }


class FilterResource(Resource):
    kind = "filter"
    collection = "filters"
    model = models.RowFilter
    create_body = schemas.FilterCreate
    update_body = schemas.FilterUpdate
    nullable = frozenset({"group_key"})

    async def create(self, ctx: WriteContext, body: schemas.FilterCreate) -> tuple[Any, dict[str, Any]]:
        tenant = _tenant(ctx)
        dataset = (
            None if body.dataset == "*" else await _dataset_in_tenant(ctx, body.dataset, field="dataset")
        )
        row = models.RowFilter(
            tenant_id=tenant.id,
            name=body.name,
            filter_type=body.filter_type,
            dataset_id=dataset.id if dataset else None,
            all_datasets=dataset is None,
            clause=body.clause,
            group_key=body.group_key,
            roles=sorted(set(body.roles)),
            description=body.description,
        )
        await self._validate(ctx, row)
        ctx.session.add(row)
        return row, {}

    async def update(self, ctx: WriteContext, row: models.RowFilter, changes: dict[str, Any]) -> None:
        if "roles" in changes:
            changes["roles"] = sorted(set(changes["roles"]))
            if row.filter_type == "regular" and not changes["roles"]:
                raise Invalid(
                    "a regular filter applies only to the roles it lists; give at least one", field="roles"
                )
        await super().update(ctx, row, changes)
        await self._validate(ctx, row)

    @staticmethod
    async def _validate(ctx: WriteContext, row: models.RowFilter) -> None:
        shapes = await _dataset_shapes(ctx.session, _tenant(ctx).id)
        if not row.all_datasets:
            dataset = await ctx.session.get(models.Dataset, row.dataset_id)
            assert dataset is not None
            shapes = [s for s in shapes if s.name == dataset.name]
        check_clause(row.clause, shapes, fallback_dialect=_tenant(ctx).dialect, field="clause")

    async def render(self, session: AsyncSession, row: models.RowFilter) -> dict[str, Any]:
        dataset = (
            "*"
            if row.all_datasets
            else await session.scalar(select(models.Dataset.name).where(models.Dataset.id == row.dataset_id))
        )
        return {
            "id": row.id,
            "name": row.name,
            "filter_type": row.filter_type,
            "dataset": dataset,
            "clause": row.clause,
            "group_key": row.group_key,
            "roles": row.roles,
            "description": row.description,
            **_timestamps(row),
        }


class OriginResource(Resource):
    kind = "origin"
    collection = "origins"
    model = models.Origin
    create_body = schemas.OriginCreate

    async def create(self, ctx: WriteContext, body: schemas.OriginCreate) -> tuple[Any, dict[str, Any]]:
        tenant = _tenant(ctx)
        taken = (models.Origin.tenant_id == tenant.id) & (models.Origin.origin == body.origin)
        if await _exists(ctx.session, taken, model=models.Origin):
            raise Conflict(f"origin {body.origin!r} is allowed already", field="origin")
        row = models.Origin(tenant_id=tenant.id, origin=body.origin)
        ctx.session.add(row)
        return row, {}

    async def render(self, session: AsyncSession, row: models.Origin) -> dict[str, Any]:
        return {"id": row.id, "origin": row.origin, "created_at": as_utc(row.created_at).isoformat()}


WEBHOOK_SECRET_PREFIX: Final = "whsec_"  # noqa: S105 (a prefix that marks the secrets, not one)


def new_webhook_secret() -> str:
    return WEBHOOK_SECRET_PREFIX + secrets.token_urlsafe(32)


class WebhookResource(Resource):
    """A tenant's endpoint for audit events. Its signing secret is shown once, when it is made."""

    kind = "webhook"
    collection = "webhooks"
    model = models.Webhook
    create_body = schemas.WebhookCreate
    update_body = schemas.WebhookUpdate

    async def create(self, ctx: WriteContext, body: schemas.WebhookCreate) -> tuple[Any, dict[str, Any]]:
        secret = new_webhook_secret()
        row = models.Webhook(
            tenant_id=_tenant(ctx).id,
            url=self._target(ctx, body.url),
            event_types=body.event_types,
            description=body.description,
            enabled=body.enabled,
            secret_encrypted=ctx.box.encrypt(secret.encode()),
        )
        ctx.session.add(row)
        return row, {"secret": secret}

    async def update(self, ctx: WriteContext, row: models.Webhook, changes: dict[str, Any]) -> None:
        if "url" in changes:
            changes["url"] = self._target(ctx, changes["url"])
        await super().update(ctx, row, changes)

    @staticmethod
    async def rotate_secret(ctx: WriteContext, row: models.Webhook) -> dict[str, Any]:
        """A new signing secret replaces the old one at once; the answer shows it once."""
        secret = new_webhook_secret()
        row.secret_encrypted = ctx.box.encrypt(secret.encode())
        return {"secret": secret}

    @staticmethod
    def _target(ctx: WriteContext, url: str) -> str:
        try:
            return check_webhook_url(url, allow_private=ctx.settings.webhook_allow_private)
        except InvalidWebhookTarget as exc:
            raise Invalid(str(exc), code="invalid_webhook_target", field="url") from None

    async def render(self, session: AsyncSession, row: models.Webhook) -> dict[str, Any]:
        return {
            "id": row.id,
            "url": row.url,
            "event_types": row.event_types,
            "description": row.description,
            "enabled": row.enabled,
            **_timestamps(row),
        }


class KeyResource(Resource):
    """Signing keys are read here; they are created with the tenant and by rotation."""

    kind = "key"
    collection = "keys"
    model = models.SigningKey
    deletable = False

    def where(self, ref: str) -> ColumnElement[bool]:
        return models.SigningKey.kid == ref

    def order_column(self) -> Any:
        return models.SigningKey.kid

    def ref(self, row: Any) -> str:
        return str(row.kid)

    async def render(self, session: AsyncSession, row: models.SigningKey) -> dict[str, Any]:
        max_ttl = await session.scalar(
            select(models.Tenant.max_token_ttl_seconds).where(models.Tenant.id == row.tenant_id)
        )
        assert max_ttl is not None
        return {
            "kid": row.kid,
            "algorithm": row.algorithm,
            "status": effective_key_status(row, max_ttl, models.utcnow()),
            "public_jwk": row.public_jwk,
            "created_at": as_utc(row.created_at).isoformat(),
            "rotated_at": as_utc(row.rotated_at).isoformat() if row.rotated_at else None,
        }


TENANTS = TenantResource()
KEYS = KeyResource()
DATASETS = DatasetResource()
WEBHOOKS = WebhookResource()
NESTED: tuple[Resource, ...] = (
    AppResource(),
    WarehouseResource(),
    DATASETS,
    ChartResource(),
    DashboardResource(),
    FilterResource(),
    OriginResource(),
    KEYS,
    WEBHOOKS,
)
