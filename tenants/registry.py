"""Writes and reads of the registry, one transaction per call.

Every write under a tenant bumps its registry version in the same transaction (which also
serialises concurrent writers of one tenant) and, once committed, publishes a `config` event so
that every replica drops what it cached for that tenant.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from pydantic import BaseModel
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from gateway.bus.events import Event, EventBus
from tenants import models, schemas
from tenants.crypto import SecretBox
from tenants.errors import Conflict, Invalid, NotFound, PreconditionFailed
from tenants.introspection import ColumnIntrospection, Introspect
from tenants.resources import (
    DATASETS,
    KEYS,
    TENANTS,
    WEBHOOKS,
    Resource,
    WriteContext,
    WriteSettings,
    new_signing_key,
)
from tenants.store import RegistryStore, as_utc, effective_key_status, tenant_ref_clause

logger = logging.getLogger("tenants.registry")

IDEMPOTENCY_WINDOW: Final = timedelta(hours=24)
MAX_PAGE: Final = 200


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any] | None
    etag: str | None = None
    location: str | None = None


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    key: str
    request_hash: str


def etag_of(row: Any) -> str:
    """Opaque and unique to this row and version: a deleted and re-created entity never repeats one."""
    identity = row.kid if isinstance(row, models.SigningKey) else row.id
    version = getattr(row, "row_version", 1)
    digest = hashlib.sha256(f"{identity}|{as_utc(row.created_at).isoformat()}|{version}".encode()).hexdigest()
    return f'"{digest[:20]}"'


def if_match_allows(if_match: str | None, etag: str) -> bool:
    """RFC 9110 strong comparison: a weak tag (W/) never matches."""
    if if_match is None or if_match.strip() == "*":
        return True
    return etag in (tag.strip() for tag in if_match.split(","))


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, expected: type) -> Any:
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, RecursionError):
        value = None
    valid = isinstance(value, expected) and not isinstance(value, bool)
    if (
        not valid
        or (isinstance(value, int) and not 0 <= value <= 2**63 - 1)
        or (isinstance(value, str) and len(value) > 64)
    ):
        raise Invalid("cursor is not one this API returned", field="cursor")
    return value


class Registry:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        bus: EventBus,
        *,
        settings: WriteSettings | None = None,
        introspect: Introspect | None = None,
    ) -> None:
        self._sessions = sessions
        self._box = box
        self._bus = bus
        self._settings = settings or WriteSettings()
        self._introspection = ColumnIntrospection(sessions, RegistryStore(sessions, box), introspect)

    # reads

    async def list(
        self, resource: Resource, tenant_ref: str | None, *, limit: int, cursor: str | None
    ) -> Outcome:
        if not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        order = resource.order_column()
        async with self._sessions() as session:
            query = select(resource.model).order_by(order).limit(limit + 1)
            if tenant_ref is not None:
                tenant = await self._tenant(session, tenant_ref)
                query = query.where(resource.model.tenant_id == tenant.id)
            if cursor is not None:
                query = query.where(order > _decode_cursor(cursor, order.type.python_type))
            rows = list(await session.scalars(query))
            page = rows[:limit]
            items = [await resource.render(session, row) for row in page]
        next_cursor = _encode_cursor(getattr(page[-1], order.key)) if len(rows) > limit else None
        return Outcome(200, {"items": items, "next_cursor": next_cursor})

    async def get(self, resource: Resource, tenant_ref: str | None, ref: str) -> Outcome:
        async with self._sessions() as session:
            row = await self._find(session, resource, tenant_ref, ref)
            return Outcome(200, await resource.render(session, row), etag_of(row))

    # writes

    async def create(
        self,
        resource: Resource,
        tenant_ref: str | None,
        body: BaseModel,
        *,
        location_prefix: str,
        idempotency: IdempotencyKey | None = None,
    ) -> Outcome:
        # A key is replayed only for the same collection of the same tenant, however the tenant was named.
        scope = (
            f"{resource.collection}:{await self._tenant_id(tenant_ref) if tenant_ref is not None else '-'}"
        )
        if idempotency is not None and (replay := await self._replay(scope, idempotency)) is not None:
            return replay
        body = await resource.complete(body, tenant_ref=tenant_ref, introspection=self._introspection)
        try:
            async with self._sessions.begin() as session:
                tenant = None if tenant_ref is None else await self._tenant(session, tenant_ref, lock=True)
                ctx = WriteContext(session, self._box, tenant, self._settings)
                row, shown_once = await resource.create(ctx, body)
                await session.flush()
                tenant_id = tenant.id if tenant is not None else row.id
                version = await self._bump_version(session, tenant_id, created=tenant is None)
                ref = resource.ref(row)
                outcome = Outcome(
                    201,
                    {**await resource.render(session, row), **shown_once},
                    etag_of(row),
                    f"{location_prefix}/{ref}",
                )
                if idempotency is not None:
                    await self._remember(session, scope, idempotency, outcome)
        except (IntegrityError, Conflict) as exc:
            # A concurrent request with the same key may have won the race: its answer is ours too.
            if idempotency is not None and (replay := await self._replay(scope, idempotency)) is not None:
                return replay
            if isinstance(exc, Conflict):
                raise
            raise Conflict(f"the {resource.kind} conflicts with one that exists already") from None
        await self._publish(resource.kind, "created", tenant_id, ref, version)
        return outcome

    async def update(
        self, resource: Resource, tenant_ref: str | None, ref: str, body: BaseModel, *, if_match: str | None
    ) -> Outcome:
        changes = body.model_dump(exclude_unset=True)
        if not changes:
            return await self.get(resource, tenant_ref, ref)
        for name, value in changes.items():
            if value is None and name not in resource.nullable:
                raise Invalid(f"{name} cannot be null", field=name)

        async def apply(ctx: WriteContext, row: Any) -> dict[str, Any]:
            await resource.update(ctx, row, changes)
            return {}

        return await self._change(resource, tenant_ref, ref, apply, if_match=if_match, action="updated")

    async def refresh_columns(self, tenant_ref: str, ref: str, *, if_match: str | None) -> Outcome:
        """Read the dataset's columns from its warehouse again and store them."""
        async with self._sessions() as session:
            row = await self._find(session, DATASETS, tenant_ref, ref)
            if not if_match_allows(if_match, etag_of(row)):
                raise PreconditionFailed("If-Match does not match the current ETag; fetch it again")
            seen = etag_of(row)
            warehouse = await session.scalar(
                select(models.Warehouse.name).where(models.Warehouse.id == row.warehouse_id)
            )
        assert warehouse is not None
        columns = await self._introspection.columns(tenant_ref, warehouse, table=row.table_ref, sql=row.sql)
        # Stored only if the dataset is still the one described: a concurrent change answers 412.
        return await self.update(
            DATASETS,
            tenant_ref,
            ref,
            schemas.DatasetUpdate.model_validate({"columns": [c.model_dump() for c in columns]}),
            if_match=seen,
        )

    async def rotate_webhook_secret(self, tenant_ref: str, ref: str, *, if_match: str | None) -> Outcome:
        return await self._change(
            WEBHOOKS, tenant_ref, ref, WEBHOOKS.rotate_secret, if_match=if_match, action="secret_rotated"
        )

    async def _change(
        self,
        resource: Resource,
        tenant_ref: str | None,
        ref: str,
        apply: Callable[[WriteContext, Any], Awaitable[dict[str, Any]]],
        *,
        if_match: str | None,
        action: str,
    ) -> Outcome:
        """Change one row under If-Match; `apply` returns what the answer shows once."""
        try:
            async with self._sessions.begin() as session:
                row, ctx = await self._writable(session, resource, tenant_ref, ref, if_match)
                tenant_id = self._tenant_id_of(resource, row)
                shown_once = await apply(ctx, row)
                # Touch the row even when only related rows changed, so its ETag moves.
                row.updated_at = models.utcnow()
                await session.flush()
                version = await self._bump_version(session, tenant_id)
                outcome = Outcome(200, {**await resource.render(session, row), **shown_once}, etag_of(row))
                ref = resource.ref(row)
        except StaleDataError:
            raise PreconditionFailed(
                f"the {resource.kind} changed while this change ran; fetch it again"
            ) from None
        except IntegrityError:
            raise Conflict(f"the change conflicts with another {resource.kind}") from None
        await self._publish(resource.kind, action, tenant_id, ref, version)
        return outcome

    async def delete(
        self, resource: Resource, tenant_ref: str | None, ref: str, *, if_match: str | None
    ) -> Outcome:
        try:
            async with self._sessions.begin() as session:
                row, ctx = await self._writable(session, resource, tenant_ref, ref, if_match)
                tenant_id = self._tenant_id_of(resource, row)
                await resource.before_delete(ctx, row)
                ref = resource.ref(row)
                await session.delete(row)
                await session.flush()
                version = 0 if resource is TENANTS else await self._bump_version(session, tenant_id)
        except StaleDataError:
            raise PreconditionFailed(
                f"the {resource.kind} changed while this delete ran; fetch it again"
            ) from None
        except IntegrityError:
            raise Conflict(f"the {resource.kind} is still in use") from None
        await self._publish(resource.kind, "deleted", tenant_id, ref, version)
        return Outcome(204, None)

    async def rotate_key(self, tenant_ref: str, *, algorithm: str | None = None) -> Outcome:
        """Make a new key active; the active one turns `retiring` and keeps verifying until every
        token it signed has expired. `algorithm` also switches the tenant's signing algorithm."""
        async with self._sessions.begin() as session:
            tenant = await self._tenant(session, tenant_ref, lock=True)
            if algorithm is not None:
                tenant.signing_algorithm = algorithm
            now = models.utcnow()
            keys = await session.scalars(
                select(models.SigningKey).where(
                    models.SigningKey.tenant_id == tenant.id, models.SigningKey.status != "retired"
                )
            )
            for key in keys:
                if key.status == "active":
                    key.status, key.rotated_at = "retiring", now
                elif effective_key_status(key, tenant.max_token_ttl_seconds, now) == "retired":
                    key.status = "retired"
            new_key = new_signing_key(tenant, self._box)
            session.add(new_key)
            await session.flush()
            version = await self._bump_version(session, tenant.id)
            body = await KEYS.render(session, new_key)
        await self._publish("key", "rotated", tenant.id, new_key.kid, version)
        return Outcome(201, body, location=f"/api/v1/tenants/{tenant.slug}/keys/{new_key.kid}")

    # helpers

    @staticmethod
    def _tenant_id_of(resource: Resource, row: Any) -> str:
        return str(row.id if resource is TENANTS else row.tenant_id)

    async def _writable(
        self,
        session: AsyncSession,
        resource: Resource,
        tenant_ref: str | None,
        ref: str,
        if_match: str | None,
    ) -> tuple[Any, WriteContext]:
        """The row, locked, after its If-Match precondition held; and the context to change it in."""
        row = await self._find(session, resource, tenant_ref, ref, lock=True)
        if not if_match_allows(if_match, etag_of(row)):
            raise PreconditionFailed("If-Match does not match the current ETag; fetch it again")
        tenant = row if resource is TENANTS else await session.get(models.Tenant, row.tenant_id)
        return row, WriteContext(session, self._box, tenant, self._settings)

    async def _tenant(self, session: AsyncSession, ref: str, *, lock: bool = False) -> models.Tenant:
        query = select(models.Tenant).where(tenant_ref_clause(ref))
        tenant = await session.scalar(query.with_for_update() if lock else query)
        if tenant is None:
            raise NotFound("tenant", ref)
        return tenant

    async def _find(
        self,
        session: AsyncSession,
        resource: Resource,
        tenant_ref: str | None,
        ref: str,
        *,
        lock: bool = False,
    ) -> Any:
        if resource is TENANTS:
            return await self._tenant(session, ref, lock=lock)
        assert tenant_ref is not None
        tenant = await self._tenant(session, tenant_ref)
        query = select(resource.model).where(resource.model.tenant_id == tenant.id, resource.where(ref))
        row = await session.scalar(query.with_for_update() if lock else query)
        if row is None:
            raise NotFound(resource.kind, ref)
        return row

    @staticmethod
    async def _bump_version(session: AsyncSession, tenant_id: str, *, created: bool = False) -> int:
        if created:
            return 1
        version = await session.scalar(
            update(models.RegistryVersion)
            .where(models.RegistryVersion.tenant_id == tenant_id)
            .values(version=models.RegistryVersion.version + 1)
            .returning(models.RegistryVersion.version)
        )
        assert version is not None
        return int(version)

    async def _publish(self, kind: str, action: str, tenant_id: str, ref: str, version: int) -> None:
        event = Event(f"{kind}.{action}", tenant_id, {"kind": kind, "ref": ref, "registry_version": version})
        try:
            await self._bus.publish("config", event)
        except Exception:
            # The write is committed; replicas catch up by comparing registry versions on resync.
            logger.exception("could not publish %s for tenant %s", event.type, tenant_id)

    async def _tenant_id(self, ref: str) -> str:
        async with self._sessions() as session:
            return (await self._tenant(session, ref)).id

    async def _replay(self, scope: str, idempotency: IdempotencyKey) -> Outcome | None:
        async with self._sessions() as session:
            record = await session.get(models.IdempotencyRecord, (scope, idempotency.key))
        if record is None or models.utcnow() - as_utc(record.created_at) > IDEMPOTENCY_WINDOW:
            return None
        if record.request_hash != idempotency.request_hash:
            raise Invalid(
                "this Idempotency-Key was used with a different request body",
                code="idempotency_key_reused",
                field="Idempotency-Key",
            )
        stored = json.loads(self._box.decrypt(record.response_encrypted))
        return Outcome(record.status_code, stored["body"], stored["etag"], stored["location"])

    async def _remember(
        self, session: AsyncSession, scope: str, idempotency: IdempotencyKey, outcome: Outcome
    ) -> None:
        await session.execute(
            delete(models.IdempotencyRecord).where(
                models.IdempotencyRecord.created_at < models.utcnow() - IDEMPOTENCY_WINDOW
            )
        )
        stored = {"body": outcome.body, "etag": outcome.etag, "location": outcome.location}
        session.add(
            models.IdempotencyRecord(
                scope=scope,
                key=idempotency.key,
                request_hash=idempotency.request_hash,
                status_code=outcome.status,
                response_encrypted=self._box.encrypt(json.dumps(stored).encode()),
            )
        )
        await session.flush()
