"""Qualify every table reference against the catalog, and refuse the tables a token may not read."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers
from sqlglot.optimizer.scope import Scope, traverse_scope

from gateway.rls.catalog import Catalog, ProtectedTable, TableKey, table_key
from gateway.rls.dialects import dialect_of
from gateway.rls.errors import RewriteRefused

TABLE_META = "rls_table"
"""Meta key on an ``exp.Table`` read of a catalog table: its ``ProtectedTable``."""
CTE_META = "rls_cte"
"""Meta key on an ``exp.Table`` that names a CTE, not a table."""


def qualify(expression: exp.Expr, *, catalog: Catalog, dialect: str) -> exp.Expr:
    """Rewrite sqlglot AST so every table read names its catalog table by normalised schema and name.

    Names get the catalog's default schema (and default catalog, when it has one). CTE references are left
    alone (a CTE named ``orders`` is not the table); a column qualified with a table's schema
    (``public.orders.id``) is re-qualified with the table's name, which the reference keeps as its alias
    when it is later replaced by a derived table.

    >>> import sqlglot
    >>> catalog = Catalog.build({"public.orders": None}, dialect="postgres")
    >>> sql = "WITH o AS (SELECT 1) SELECT public.ORDERS.id FROM ORDERS, o"
    >>> qualify(sqlglot.parse_one(sql), catalog=catalog, dialect="postgres").sql()
    'WITH o AS (SELECT 1) SELECT orders.id FROM public.orders, o'

    Args:
        expression: a query that passed ``validate``.
        catalog: the readable tables.
        dialect: the query's dialect (identifier normalisation).

    Returns:
        ``expression``, with each ``exp.Table`` marked as a catalog read (``TABLE_META``) or a CTE
        reference (``CTE_META``).

    Raises:
        RewriteRefused: a table outside the catalog (system catalogs, ``information_schema`` ...), an
            ambiguous name, or a table reference no scope accounts for.
    """
    # Names are compared as the engine resolves them: unquoted identifiers folded, quoted ones kept, so
    # that a CTE named "Orders" is never taken for the table Orders (orders) or the other way round.
    expression = normalize_identifiers(expression, dialect=dialect_of(dialect))
    scopes = traverse_scope(expression)
    for scope in scopes:
        _check_unique_source_names(scope)
        for table in scope.tables:
            _qualify_table(table, scope, catalog=catalog, dialect=dialect)
    # Each column belongs to exactly one scope's index; ``Scope.columns`` would instead look up an ancestor
    # per column, which costs the tree's depth each time (quadratic on ``x + x + ... + x``).
    schema_qualified = [column for column in expression.find_all(exp.Column) if column.args.get("db")]
    if schema_qualified:
        owner = {column_id: scope for scope in scopes for column_id in scope.column_index}
        for column in schema_qualified:
            owning_scope = owner.get(id(column))
            if owning_scope is not None:
                _requalify_column(column, owning_scope, catalog=catalog, dialect=dialect)
    for table in expression.find_all(exp.Table):
        if TABLE_META not in table.meta and CTE_META not in table.meta:
            raise RewriteRefused(
                "table_unscoped", f"Cannot tell what {table.sql(dialect)!r} reads, so the query is refused"
            )
    return expression


def _qualify_table(table: exp.Table, scope: Scope, *, catalog: Catalog, dialect: str) -> None:
    if _is_cte_reference(table, scope):
        table.meta[CTE_META] = True
        return
    key = table_key(table, default_schema=catalog.default_schema, default_catalog=catalog.default_catalog)
    protected: ProtectedTable | None = catalog.tables.get(key) if key is not None else None
    if protected is None:
        raise RewriteRefused("table_forbidden", f"Table {table.sql(dialect)} may not be read")
    table_catalog, schema, _ = protected.key
    if table.args.get("db") is None:
        table.set("db", _identifier(schema, dialect))
    if table.args.get("catalog") is None and table_catalog:
        table.set("catalog", _identifier(table_catalog, dialect))
    table.meta[TABLE_META] = protected


def _is_cte_reference(table: exp.Table, scope: Scope) -> bool:
    """Whether ``table`` names a CTE: sqlglot resolved it to a CTE's scope and the CTE bears its name.

    The second check makes sure an alias can never turn a table read into a "CTE reference".
    """
    source = scope.sources.get(table.alias_or_name)
    if table.args.get("db") is not None or not isinstance(source, Scope) or not source.is_cte:
        return False
    cte = source.expression.find_ancestor(exp.CTE)
    return cte is not None and cte.alias == table.name


def _identifier(name: str, dialect: str) -> exp.Identifier:
    """The identifier for a normalised name, quoted only where the dialect needs it."""
    return dialect_of(dialect).quote_identifier(exp.to_identifier(name), identify=False)


def _check_unique_source_names(scope: Scope) -> None:
    """Refuse two FROM items with one name: engines reject it, and it would hide which one a name means."""
    seen: set[str] = set()
    for source in [*scope.tables, *scope.derived_tables]:
        if source.alias_or_name in seen:
            raise RewriteRefused("duplicate_alias", f"{source.alias_or_name!r} names two FROM items")
        seen.add(source.alias_or_name)


def _requalify_column(column: exp.Column, scope: Scope, *, catalog: Catalog, dialect: str) -> None:
    """Turn ``public.orders.id`` into ``orders.id`` when it names an unaliased read of ``public.orders``."""
    source = _nearest_source_named(column.table, scope)
    named = (column.catalog or catalog.default_catalog or "", column.db, column.table)
    if not isinstance(source, exp.Table) or source.alias or _protected_key(source) != named:
        raise RewriteRefused(
            "column_reference", f"Column {column.sql(dialect)} does not name a table of the query"
        )
    column.set("db", None)
    column.set("catalog", None)


def _protected_key(table: exp.Table) -> TableKey | None:
    protected: ProtectedTable | None = table.meta.get(TABLE_META)
    return protected.key if protected is not None else None


def _nearest_source_named(name: str, scope: Scope | None) -> exp.Expr | None:
    """The FROM item a qualifier ``name`` resolves to: the innermost scope that has one wins."""
    while scope is not None:
        for source in [*scope.tables, *scope.derived_tables]:
            if source.alias_or_name == name:
                return source
        scope = scope.parent
    return None
