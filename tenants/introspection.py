"""A dataset's columns read from its warehouse, for datasets registered without them.

The control plane never opens a warehouse itself: the composition root injects an `Introspect`
callable built on the data plane's connectors, which turns the connectors' errors into the ones
below. Introspection runs before the write transaction, so a slow warehouse never holds the
registry's locks, and any failure leaves the registry untouched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlglot import exp

from gateway.rls.rewrite import parse_query
from tenants import models, schemas
from tenants.errors import Invalid, NotFound, RegistryError
from tenants.sql_checks import check_table_reference, single_query
from tenants.store import RegistryStore, tenant_ref_clause

# Types are shown to operators and embedders, never parsed: an overlong nested type is shortened.
MAX_TYPE_LENGTH: Final = 255
_COLUMNS: Final = TypeAdapter(schemas.Columns)


class TableNotFound(Invalid):
    code = "table_not_found"


class IntrospectionFailed(RegistryError):
    """The warehouse could not be reached or did not answer in time. The message must be safe to show:
    no credentials, no SQL."""

    status = 502
    code = "warehouse_error"


@dataclass(frozen=True, slots=True)
class ColumnSource:
    """What to describe: a table (its normalised reference), or a zero-row query over a virtual
    dataset's validated SQL."""

    table: str | None = None
    query: str | None = None

    @property
    def field(self) -> str:
        """The request field an error about this source points at."""
        return "table" if self.table is not None else "sql"


class Introspect(Protocol):
    async def __call__(self, warehouse_url: str, source: ColumnSource) -> list[tuple[str, str]]:
        """The (name, type) of each column, in order. Raises `TableNotFound`, `Invalid` (the
        warehouse refused the source) or `IntrospectionFailed`."""
        ...


def zero_row_query(sql: str, dialect: str) -> str:
    """A virtual dataset's SQL as a subquery that returns its columns and no rows.

    Rendered from the parsed query, so a trailing comment or semicolon cannot escape the subquery.

    >>> zero_row_query("SELECT id, amount FROM orders -- all of them", "duckdb")
    'SELECT * FROM (SELECT id, amount FROM orders /* all of them */) AS q LIMIT 0'
    """
    query = parse_query(sql, dialect=dialect)
    if not isinstance(query, exp.Query):
        raise Invalid("a virtual dataset is one query", field="sql")
    return exp.select("*").from_(query.subquery("q")).limit(0).sql(dialect=dialect)


class ColumnIntrospection:
    """Describes a dataset's source on its tenant's warehouse."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], store: RegistryStore, introspect: Introspect | None
    ) -> None:
        self._sessions = sessions
        self._store = store
        self._introspect = introspect

    async def columns(
        self, tenant_ref: str, warehouse: str, *, table: str | None, sql: str | None
    ) -> list[schemas.ColumnSpec]:
        if self._introspect is None:
            raise Invalid("this gateway cannot introspect warehouses; give columns", field="columns")
        async with self._sessions() as session:
            found = (
                await session.execute(
                    select(models.Tenant.id, models.Warehouse.dialect)
                    .join(models.Warehouse, models.Warehouse.tenant_id == models.Tenant.id)
                    .where(tenant_ref_clause(tenant_ref), models.Warehouse.name == warehouse)
                )
            ).first()
            if found is None:
                tenant = await session.scalar(select(models.Tenant.id).where(tenant_ref_clause(tenant_ref)))
                if tenant is None:
                    raise NotFound("tenant", tenant_ref)
                raise Invalid(f"warehouse {warehouse!r} does not exist", field="warehouse")
        tenant_id, dialect = found
        if table is not None:
            source = ColumnSource(table=check_table_reference(table, dialect))
        else:
            single_query(sql or "", dialect, field="sql")
            source = ColumnSource(query=zero_row_query(sql or "", dialect))
        described = await self._introspect(await self._store.warehouse_url(tenant_id, warehouse), source)
        return _as_column_specs(described, field=source.field)


def _as_column_specs(described: list[tuple[str, str]], *, field: str) -> list[schemas.ColumnSpec]:
    raw: list[dict[str, Any]] = [{"name": name, "type": kind[:MAX_TYPE_LENGTH]} for name, kind in described]
    try:
        return _COLUMNS.validate_python(raw)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise Invalid(
            f"the warehouse's columns cannot be used as they are ({problem}); give columns", field=field
        ) from None
