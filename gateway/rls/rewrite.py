"""The row-level-security rewriter: parse once, run the passes in order, generate.

Derived-table mode (the default) replaces each filtered read by ``(SELECT * FROM t WHERE pred) AS t``; the
predicate-in-WHERE mode is for engines without derived tables and refuses what it cannot filter exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Protocol

from sqlglot import exp
from sqlglot.errors import SqlglotError

from gateway.lru import LruCache
from gateway.rls.apply_filters import apply_filters
from gateway.rls.apply_filters_in_where import apply_filters_in_where
from gateway.rls.bounds import check_text, check_tree
from gateway.rls.catalog import Catalog
from gateway.rls.dialects import dialect_of
from gateway.rls.errors import QueryTooCostly, RewriteRefused, describe
from gateway.rls.qualify import qualify
from gateway.rls.validate import validate


class Pass(Protocol):
    """A rewrite pass: takes the expression (modified in place) and returns it, or raises RewriteRefused."""

    def __call__(self, expression: exp.Expr, *, catalog: Catalog, dialect: str) -> exp.Expr: ...


class FilterMode(Enum):
    """How filters are applied: derived tables (exact for every query), or WHERE/ON (refuses some)."""

    DERIVED_TABLES = "derived"
    WHERE = "where"


PASSES: tuple[Pass, ...] = (validate, qualify, apply_filters)
"""The passes of derived-table mode, in order; each is ``pass(expression, *, catalog, dialect)``."""
WHERE_PASSES: tuple[Pass, ...] = (validate, qualify, apply_filters_in_where)
"""The passes of predicate-in-WHERE mode."""

_PASSES_BY_MODE = {FilterMode.DERIVED_TABLES: PASSES, FilterMode.WHERE: WHERE_PASSES}


def parse_query(sql: str, *, dialect: str) -> exp.Expr:
    """Parse exactly one statement; refuse text that is too long, does not parse or holds several."""
    check_text(sql)
    try:
        statements = [statement for statement in dialect_of(dialect).parse(sql) if statement is not None]
    except SqlglotError as error:
        raise RewriteRefused("sql_syntax", f"Query does not parse as {dialect}: {describe(error)}") from None
    except RecursionError:
        raise QueryTooCostly("too_complex", "Query is nested too deeply to analyse") from None
    if len(statements) != 1:
        raise RewriteRefused(
            "multiple_statements", f"Exactly one statement is allowed, got {len(statements)}"
        )
    return statements[0]


def rewrite(
    sql: str | exp.Expr,
    *,
    dialect: str,
    catalog: Catalog,
    mode: FilterMode = FilterMode.DERIVED_TABLES,
) -> exp.Expr:
    """Rewrite a query so that it reads only the rows the catalog's filters allow.

    >>> from gateway.rls.clause import parse_clause
    >>> catalog = Catalog.build({"public.orders": parse_clause("tenant_id = 1", dialect="postgres",
    ...     columns=None), "public.products": None}, dialect="postgres")
    >>> rewrite("SELECT * FROM Orders JOIN products p ON p.id = Orders.product_id", dialect="postgres",
    ...     catalog=catalog).sql("postgres")
    'SELECT * FROM (SELECT * FROM public.orders WHERE orders.tenant_id = 1) AS orders \
JOIN public.products AS p ON p.id = orders.product_id'

    Args:
        sql: the query text, or an expression (copied once, never modified).
        dialect: the warehouse's sqlglot dialect; must be the catalog's.
        catalog: the tables the request may read and their filters.
        mode: derived tables (default) or predicates in WHERE/ON.

    Returns:
        The rewritten expression.

    Raises:
        RewriteRefused: the query is not a single plain read the rewriter can prove safe.
    """
    if dialect != catalog.dialect:
        raise RewriteRefused("dialect_mismatch", f"Catalog is for {catalog.dialect}, query is {dialect}")
    expression = parse_query(sql, dialect=dialect) if isinstance(sql, str) else sql.copy()
    check_tree(expression)
    try:
        for rewrite_pass in _PASSES_BY_MODE[mode]:
            expression = rewrite_pass(expression, catalog=catalog, dialect=dialect)
    except SqlglotError as error:  # e.g. scope building on a shape sqlglot cannot analyse
        raise RewriteRefused("unsupported", f"Query cannot be analysed: {describe(error)}") from None
    except RecursionError:
        raise QueryTooCostly("too_complex", "Query is nested too deeply to analyse") from None
    return expression


def rewrite_sql(
    sql: str, *, dialect: str, catalog: Catalog, mode: FilterMode = FilterMode.DERIVED_TABLES
) -> str:
    """``rewrite`` a query's text and generate the result in the same dialect."""
    rewritten = rewrite(sql, dialect=dialect, catalog=catalog, mode=mode)
    # The tree is ours (parsed from text just now), so the generator need not copy it first. Comments are
    # dropped: nothing the warehouse runs should carry text the rewriter did not parse as SQL.
    try:
        return rewritten.sql(dialect_of(dialect), copy=False, comments=False)
    except RecursionError:
        raise QueryTooCostly("too_complex", "Query is nested too deeply to generate") from None


class RewriteCache:
    """An in-process LRU of rewritten SQL.

    The key is (dialect, mode, the query's exact text, the catalog's fingerprint). The text itself is the
    SQL fingerprint: two spellings of one query are two entries, never a wrong hit; and the catalog's
    fingerprint changes with any filter, so a cached rewrite is never served under other predicates.
    Refusals are cached too (the same query is refused the same way). Not thread-safe: use one per event
    loop or thread.
    """

    def __init__(self, maxsize: int = 4096, *, on_lookup: Callable[[bool], None] | None = None) -> None:
        """`on_lookup(hit)` is told of every lookup, e.g. to count the hit ratio."""
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self._on_lookup = on_lookup
        self._entries: LruCache[tuple[str, FilterMode, str, str], str | RewriteRefused] = LruCache(maxsize)

    def __len__(self) -> int:
        return len(self._entries)

    def rewrite_sql(
        self, sql: str, *, dialect: str, catalog: Catalog, mode: FilterMode = FilterMode.DERIVED_TABLES
    ) -> str:
        """``rewrite`` then generate, memoised. Raises ``RewriteRefused`` like ``rewrite``."""
        cached = self.get(sql, dialect=dialect, catalog=catalog, mode=mode)
        if cached is not None:
            return cached
        outcome = rewrite_outcome(sql, dialect=dialect, catalog=catalog, mode=mode)
        return self.put(sql, outcome, dialect=dialect, catalog=catalog, mode=mode)

    def get(
        self, sql: str, *, dialect: str, catalog: Catalog, mode: FilterMode = FilterMode.DERIVED_TABLES
    ) -> str | None:
        """The remembered rewrite, or ``None``; raises the remembered refusal."""
        key = (dialect, mode, sql, catalog.fingerprint)
        entry = self._entries.get(key)
        if self._on_lookup is not None:
            self._on_lookup(entry is not None)
        if entry is None:
            return None
        return _unwrapped(entry)

    def put(
        self,
        sql: str,
        outcome: str | RewriteRefused,
        *,
        dialect: str,
        catalog: Catalog,
        mode: FilterMode = FilterMode.DERIVED_TABLES,
    ) -> str:
        """Remember what ``rewrite_outcome`` came to, and return it (or raise the refusal)."""
        self._entries.put((dialect, mode, sql, catalog.fingerprint), outcome)
        return _unwrapped(outcome)


def rewrite_outcome(
    sql: str, *, dialect: str, catalog: Catalog, mode: FilterMode = FilterMode.DERIVED_TABLES
) -> str | RewriteRefused:
    """``rewrite_sql``'s answer, with a refusal returned rather than raised (to be remembered)."""
    try:
        return rewrite_sql(sql, dialect=dialect, catalog=catalog, mode=mode)
    except RewriteRefused as refusal:
        return refusal


def _unwrapped(outcome: str | RewriteRefused) -> str:
    if isinstance(outcome, RewriteRefused):
        # A new exception each time: a raised one keeps the traceback of whoever raised it.
        raise type(outcome)(outcome.code, outcome.message)
    return outcome
