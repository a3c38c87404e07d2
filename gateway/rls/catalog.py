"""The catalog a query is rewritten against: which tables a token may read, and under which predicate.

Table names are normalised the way the dialect resolves identifiers (PostgreSQL folds unquoted names to
lower case, Snowflake to upper case, DuckDB ignores case ...), so ``ORDERS``, ``Orders``, ``"orders"`` and
``public.orders`` are one table on PostgreSQL while ``"Orders"`` is another.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from gateway.rls.dialects import DEFAULT_SCHEMAS, dialect_of
from gateway.rls.errors import ClauseError, describe

TableKey = tuple[str, str, str]
"""A table's (catalog, schema, name), normalised for the dialect; catalog is "" when none is named or set."""


@dataclass(frozen=True)
class ProtectedTable:
    """One readable table: its normalised key and its row filter (``None``: every row is readable).

    The filter's columns are qualified with the table's name, so inside ``(SELECT * FROM public.orders
    WHERE orders.tenant_id = 1) AS orders`` an unknown column is an error, never a correlated reference to
    an outer query.
    """

    key: TableKey
    predicate: exp.Expr | None
    predicate_sql: str | None = field(default=None, compare=False)
    """The predicate as SQL of the catalog's dialect: what the fingerprint hashes and pickling sends."""


@dataclass(frozen=True)
class Catalog:
    """The tables a request may read, keyed by normalised (schema, name)."""

    dialect: str
    default_schema: str | None
    default_catalog: str | None
    tables: Mapping[TableKey, ProtectedTable]
    fingerprint: str = field(compare=False)
    """A hash of the dialect, default schema, tables and predicates: part of every rewrite-cache key."""

    @classmethod
    def build(
        cls,
        predicates: Mapping[str, exp.Expr | None],
        *,
        dialect: str,
        default_schema: str | None = None,
        default_catalog: str | None = None,
    ) -> Catalog:
        """Build a catalog from table names as written in ``dialect`` (``public."MixedCase"``) and filters.

        >>> from gateway.rls.clause import parse_clause
        >>> catalog = Catalog.build({"public.Orders": parse_clause("tenant_id = 1", dialect="postgres",
        ...     columns=None)}, dialect="postgres")
        >>> catalog.tables[("", "public", "orders")].predicate.sql("postgres")
        'orders.tenant_id = 1'

        Args:
            predicates: table name -> its resolved filter, ``None`` for a table readable without a filter.
            dialect: the warehouse's sqlglot dialect.
            default_schema: the schema of unqualified names; defaults to the dialect's conventional one.
            default_catalog: the catalog (database, project) of names without one, if the engine has them.

        Raises:
            ClauseError: a table name does not parse, or a filter still has an unbound template.
        """
        schema = default_schema if default_schema is not None else DEFAULT_SCHEMAS.get(dialect)
        normalised_schema = _normalised_name(schema, dialect)
        normalised_catalog = _normalised_name(default_catalog, dialect)
        tables: dict[TableKey, ProtectedTable] = {}
        digest = hashlib.sha256(f"{dialect}\0{normalised_schema}\0{normalised_catalog}".encode())
        for written, predicate in predicates.items():
            table = _parse_table_name(written, dialect)
            key = table_key(table, default_schema=normalised_schema, default_catalog=normalised_catalog)
            if key is None:
                raise ClauseError(
                    "table_name", f"Table {written!r} needs a schema (no default schema is set)"
                )
            if key in tables:
                raise ClauseError(
                    "table_duplicate", f"Table {written!r} is listed twice (under another spelling)"
                )
            qualified = _qualify_predicate(predicate, table.this, dialect) if predicate is not None else None
            text = qualified.sql(dialect) if qualified is not None else None
            tables[key] = ProtectedTable(key=key, predicate=qualified, predicate_sql=text)
            digest.update(f"\0{key}\0{text or ''}".encode())
        return cls(
            dialect=dialect,
            default_schema=normalised_schema,
            default_catalog=normalised_catalog,
            tables=tables,
            fingerprint=digest.hexdigest(),
        )

    def __reduce__(self) -> tuple[Callable[..., Catalog], tuple[object, ...]]:
        # Pickled with its predicates as SQL text, which crosses to a rewrite worker far faster than
        # sqlglot trees do; the worker rebuilds each catalog once (``_catalog_from_text``).
        predicates = tuple((key, table.predicate_sql) for key, table in self.tables.items())
        args = (self.dialect, self.default_schema, self.default_catalog, predicates, self.fingerprint)
        return _catalog_from_text, args


@functools.lru_cache(maxsize=64)
def _catalog_from_text(
    dialect: str,
    default_schema: str | None,
    default_catalog: str | None,
    predicates: tuple[tuple[TableKey, str | None], ...],
    fingerprint: str,
) -> Catalog:
    tables = {
        key: ProtectedTable(key, _without_positions(_parse_predicate(text, dialect)) if text else None, text)
        for key, text in predicates
    }
    return Catalog(dialect, default_schema, default_catalog, tables, fingerprint)


def table_key(
    table: exp.Table, *, default_schema: str | None, default_catalog: str | None
) -> TableKey | None:
    """The key of a table reference whose identifiers are normalised already, or ``None`` when it has no
    schema and no default schema is set."""
    schema = table.db or default_schema
    return (table.catalog or default_catalog or "", schema, table.name) if schema else None


def _normalised_name(name: str | None, dialect: str) -> str | None:
    if name is None:
        return None
    try:
        return dialect_of(dialect).normalize_identifier(exp.parse_identifier(name, dialect=dialect)).name
    except SqlglotError as error:
        raise ClauseError("table_name", f"Name {name!r} does not parse: {describe(error)}") from None


def _parse_table_name(written: str, dialect: str) -> exp.Table:
    try:
        table = dialect_of(dialect).parse_into(exp.Table, written)[0]
    except SqlglotError as error:
        raise ClauseError("table_name", f"Table name {written!r} does not parse: {describe(error)}") from None
    if not isinstance(table, exp.Table) or not isinstance(table.this, exp.Identifier):
        raise ClauseError("table_name", f"{written!r} is not a [[catalog.]schema.]table name")
    if {key for key, value in table.args.items() if value} - {"this", "db", "catalog"}:
        raise ClauseError("table_name", f"{written!r} is not a [[catalog.]schema.]table name")
    return normalize_identifiers(table, dialect=dialect_of(dialect))


def _qualify_predicate(predicate: exp.Expr, table_name: exp.Identifier, dialect: str) -> exp.Expr:
    qualified = predicate.copy()
    placeholder = qualified.find(exp.Placeholder)
    if placeholder is not None:
        raise ClauseError("clause_unbound_template", f"Template {placeholder.name!r} was not bound")
    # parse_clause refuses these already; checked again because a read hidden in a filter would itself be
    # unfiltered.
    if qualified.find(exp.Query, exp.Subquery, exp.Table) is not None:
        raise ClauseError("clause_subquery", f"Filter {qualified.sql(dialect)!r} reads a table")
    for column in qualified.find_all(exp.Column):
        if column.table:
            raise ClauseError(
                "clause_qualified_column", f"Filter column {column.sql(dialect)!r} is qualified"
            )
        column.set("table", table_name.copy())
    return _without_positions(qualified)


def _parse_predicate(text: str, dialect: str) -> exp.Expr:
    parsed = dialect_of(dialect).parse(text)[0]
    assert parsed is not None, "a catalog predicate generated as SQL parses back"
    return parsed


def _without_positions(predicate: exp.Expr) -> exp.Expr:
    for node in predicate.walk():
        # The parser leaves token positions in each node's meta, and ``copy()`` deep-copies them; the
        # predicate is copied into every read of its table, so dropping them makes that copy ~6x cheaper.
        node._meta = None
    return predicate
