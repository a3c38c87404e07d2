"""How the onboarding API reads a dataset's columns: through the data plane's warehouse connectors.

The registry asks for columns when a dataset is created without them; the connectors' errors become
the registry's (a 404 for a missing table, a 422 otherwise, 502 for an unreachable warehouse), their
messages free of credentials and SQL.
"""

from __future__ import annotations

from typing import Final

from gateway.warehouse import Connectors, QueryFailed, WarehouseError
from tenants.errors import Invalid
from tenants.introspection import ColumnSource, Introspect, IntrospectionFailed, TableNotFound

# How each engine says a table or schema does not exist: PostgreSQL's SQLSTATEs, DuckDB's exception,
# ClickHouse's UNKNOWN_TABLE and UNKNOWN_DATABASE.
MISSING_RELATION_CODES: Final = frozenset({"42P01", "3F000", "CatalogException", "60", "81"})


def warehouse_introspection(connectors: Connectors) -> Introspect:
    """How the onboarding API reads a dataset's columns: through the data plane's connectors, their
    errors turned into the registry's (messages stay free of credentials and SQL)."""

    async def introspect(warehouse_url: str, source: ColumnSource) -> list[tuple[str, str]]:
        try:
            connector = connectors.get(warehouse_url)
        except ValueError as exc:  # no connector for this engine, or a URL it cannot open
            raise Invalid(f"columns cannot be read here ({exc}); give columns", field="columns") from None
        try:
            if source.table is not None:
                columns = await connector.columns_of(source.table)
            else:
                assert source.query is not None
                timeout = connector.options.introspection_timeout
                columns = (await connector.execute(source.query, row_limit=0, timeout=timeout)).columns
        except QueryFailed as exc:
            if exc.code in MISSING_RELATION_CODES:
                missing = source.table or "a table the query reads"
                raise TableNotFound(f"{missing} does not exist", field=source.field) from None
            raise Invalid(f"the warehouse cannot describe it: {exc}", field=source.field) from None
        except WarehouseError as exc:
            raise IntrospectionFailed(f"cannot read the columns: {exc}") from None
        return [(column.name, column.type) for column in columns]

    return introspect
