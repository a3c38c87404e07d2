"""Filter protected reads by adding predicates to WHERE and ON, for engines without derived tables.

A predicate belongs where filtering the table first would have had the same effect:
- a table no outer join can null-extend is filtered in its SELECT's WHERE;
- the right side of a LEFT JOIN (null-extended only by that join) is filtered in that join's ON, so its
  rows that fail the filter become unmatched instead of vanishing the left rows with them;
- anything else (a side of a FULL JOIN, the tables left of a RIGHT JOIN, tables inside parenthesised
  joins, joins with USING or NATURAL, column-alias lists) cannot be filtered this way and is refused.
"""

from __future__ import annotations

from sqlglot import exp

from gateway.rls.catalog import Catalog, ProtectedTable
from gateway.rls.errors import RewriteRefused
from gateway.rls.qualify import TABLE_META


def apply_filters_in_where(expression: exp.Expr, *, catalog: Catalog, dialect: str) -> exp.Expr:
    """Rewrite sqlglot AST so each filtered table read is restricted in its SELECT's WHERE or its join's ON.

    >>> import sqlglot
    >>> from gateway.rls.clause import parse_clause
    >>> from gateway.rls.qualify import qualify
    >>> catalog = Catalog.build({"public.orders": parse_clause("tenant_id = 1 OR region = 'EU'",
    ...     dialect="postgres", columns=None), "public.customers": None}, dialect="postgres")
    >>> sql = ("SELECT * FROM customers AS c LEFT JOIN orders AS o ON o.customer_id = c.id"
    ...        " WHERE c.id = 1 OR c.id = 2")
    >>> query = qualify(sqlglot.parse_one(sql), catalog=catalog, dialect="postgres")
    >>> apply_filters_in_where(query, catalog=catalog, dialect="postgres").sql()
    "SELECT * FROM public.customers AS c LEFT JOIN public.orders AS o ON (o.customer_id = c.id) \
AND (o.tenant_id = 1 OR o.region = 'EU') WHERE c.id = 1 OR c.id = 2"

    Args:
        expression: a query that passed ``qualify``.
        catalog: the readable tables (their filters travel on the marked references).
        dialect: the query's dialect, for messages.

    Returns:
        ``expression``, with filters added.

    Raises:
        RewriteRefused: a filtered read stands where a WHERE or ON filter would not be equivalent.
    """
    for table in list(expression.find_all(exp.Table)):
        protected: ProtectedTable | None = table.meta.pop(TABLE_META, None)
        if protected is not None and protected.predicate is not None:
            _filter_in_place(table, protected.predicate, dialect)
    return expression


def _filter_in_place(table: exp.Table, predicate: exp.Expr, dialect: str) -> None:
    target = _filter_target(table, dialect)
    alias = table.args.get("alias")
    condition = exp.paren(_qualified(predicate, alias.this if alias is not None else table.this), copy=False)
    if isinstance(target, exp.Join):
        target.set("on", exp.and_(exp.paren(target.args["on"], copy=False), condition))
    else:
        target.where(condition, copy=False)


def _filter_target(table: exp.Table, dialect: str) -> exp.Join | exp.Select:
    """Where filtering ``table`` is equivalent to filtering it first: its LEFT JOIN's ON, or its WHERE.

    Raises:
        RewriteRefused: nowhere is.
    """

    def refuse(code: str, reason: str) -> RewriteRefused:
        return RewriteRefused(code, f"{table.sql(dialect)}: {reason}; only derived tables filter it exactly")

    select = table.parent.parent if isinstance(table.parent, exp.From | exp.Join) else None
    if table.args.get("joins") or not isinstance(select, exp.Select):
        raise refuse("where_mode_unsupported", "it stands in a parenthesised join")
    alias = table.args.get("alias")
    if alias is not None and alias.columns:
        raise refuse("where_mode_unsupported", "it has a column-alias list")
    joins: list[exp.Join] = select.args.get("joins") or []
    own_join = table.parent if isinstance(table.parent, exp.Join) else None
    later_joins = joins[joins.index(own_join) + 1 :] if own_join is not None else joins
    if any(join.side in ("RIGHT", "FULL") or join.method for join in later_joins):
        raise refuse("where_mode_outer_join", "a later RIGHT, FULL or POSITIONAL-style join null-extends it")
    if own_join is None:
        return select
    if own_join.side == "FULL":
        raise refuse("where_mode_outer_join", "its FULL JOIN keeps its filtered-out rows, null-extended")
    if own_join.kind in ("SEMI", "ANTI") or own_join.method:
        raise refuse("where_mode_unsupported", f"it is joined with {own_join.method or own_join.kind}")
    if own_join.side != "LEFT":
        return select
    if own_join.args.get("using") or own_join.args.get("on") is None:
        raise refuse("where_mode_unsupported", "its LEFT JOIN has no ON clause to carry the filter")
    return own_join


def _qualified(predicate: exp.Expr, qualifier: exp.Identifier) -> exp.Expr:
    condition = predicate.copy()
    for column in condition.find_all(exp.Column):
        column.set("table", qualifier.copy())
    return condition
