"""Replace every filtered table read by a filtered derived table."""

from __future__ import annotations

from sqlglot import exp

from gateway.rls.catalog import Catalog, ProtectedTable
from gateway.rls.qualify import TABLE_META


def apply_filters(expression: exp.Expr, *, catalog: Catalog, dialect: str) -> exp.Expr:
    """Rewrite sqlglot AST so each read of a filtered table reads ``(SELECT * FROM t WHERE pred) AS t``.

    The derived table keeps the reference's alias and column-alias list (or takes the table's name when it
    had no alias), and any joins parenthesised with it, so every outer column reference stays valid. It
    works in every scope because ``qualify`` marked every table read, wherever it stands.

    >>> import sqlglot
    >>> from gateway.rls.clause import parse_clause
    >>> from gateway.rls.qualify import qualify
    >>> catalog = Catalog.build({"public.orders": parse_clause("tenant_id = 1 OR region = 'EU'",
    ...     dialect="postgres", columns=None)}, dialect="postgres")
    >>> query = qualify(sqlglot.parse_one("SELECT o.x FROM orders AS o(x) LEFT JOIN orders ON TRUE"),
    ...     catalog=catalog, dialect="postgres")
    >>> apply_filters(query, catalog=catalog, dialect="postgres").sql()
    "SELECT o.x FROM (SELECT * FROM public.orders WHERE orders.tenant_id = 1 OR orders.region = 'EU') \
AS o(x) LEFT JOIN (SELECT * FROM public.orders WHERE orders.tenant_id = 1 OR orders.region = 'EU') AS orders \
ON TRUE"

    Args:
        expression: a query that passed ``qualify``.
        catalog: the readable tables (their filters travel on the marked references).
        dialect: unused; present so every pass has the same signature.

    Returns:
        ``expression``, with filtered reads replaced.
    """
    for table in list(expression.find_all(exp.Table)):
        protected: ProtectedTable | None = table.meta.pop(TABLE_META, None)
        if protected is not None and protected.predicate is not None:
            table.replace(_filtered_derived_table(table, protected.predicate))
    return expression


def _filtered_derived_table(table: exp.Table, predicate: exp.Expr) -> exp.Subquery:
    table_catalog = table.args.get("catalog")
    read = exp.Table(
        this=_fresh(table.this),
        db=_fresh(table.args["db"]),
        catalog=_fresh(table_catalog) if table_catalog is not None else None,
        only=table.args.get("only"),
    )
    select = exp.Select(
        expressions=[exp.Star()], from_=exp.From(this=read), where=exp.Where(this=predicate.copy())
    )
    alias = table.args.get("alias") or exp.TableAlias(this=_fresh(table.this))
    return exp.Subquery(this=select, alias=alias, joins=table.args.get("joins"))


def _fresh(identifier: exp.Identifier) -> exp.Identifier:
    """A copy of an identifier without the parser's token positions (``copy()`` would deep-copy them)."""
    return exp.Identifier(this=identifier.this, quoted=identifier.quoted)
