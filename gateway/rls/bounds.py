"""What one query may cost the rewriter: the length of its text, the size and depth of its tree, its SELECTs.

The passes are near-linear in the size of the tree, but sqlglot's scopes cost more per SELECT than per
node, and a guest chooses the query: without a ceiling one request could hold the event loop for seconds
and stall every tenant. So the text is measured before it is parsed and the tree before any pass runs;
a query over a bound is refused with a code naming the bound. The defaults keep the worst cold rewrite
near a quarter of a second on one core (an IN list of 10,000 values; ``bench/rewrite.py``'s size sweep
shows the growth) while staying far above what charts and hand-written analytics produce.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from gateway.rls.errors import QueryTooCostly


@dataclass(frozen=True, slots=True)
class QueryBounds:
    max_chars: int = 64 * 1024
    """Characters of SQL text (parsing is linear in it)."""
    max_nodes: int = 10_000
    """Nodes of the parsed tree: every pass visits each of them."""
    max_depth: int = 200
    """Nesting of the tree; a run of one associative operator (``a OR b OR c``, ``x + y + z``) counts once,
    since sqlglot handles those chains without recursing."""
    max_selects: int = 200
    """SELECTs (and set operations): each is a scope, the costliest unit of analysis."""


DEFAULT_BOUNDS = QueryBounds()


def check_text(sql: str, bounds: QueryBounds = DEFAULT_BOUNDS) -> None:
    """Refuse text longer than the bound before the parser sees it.

    >>> check_text("SELECT 1", QueryBounds(max_chars=4))
    Traceback (most recent call last):
    ...
    gateway.rls.errors.QueryTooCostly: The query is 8 characters long; at most 4 are allowed
    """
    if len(sql) > bounds.max_chars:
        raise QueryTooCostly(
            "query_too_long",
            f"The query is {len(sql)} characters long; at most {bounds.max_chars} are allowed",
        )


def check_tree(expression: exp.Expr, bounds: QueryBounds = DEFAULT_BOUNDS) -> None:
    """Refuse a parsed query whose tree is over a bound, in one iterative walk that stops at the first.

    >>> import sqlglot
    >>> check_tree(sqlglot.parse_one("SELECT * FROM (SELECT * FROM (SELECT 1) AS a) AS b"),
    ...     QueryBounds(max_selects=2))
    Traceback (most recent call last):
    ...
    gateway.rls.errors.QueryTooCostly: The query has more than 2 SELECTs; write it with fewer subqueries
    """
    nodes = selects = 0
    stack: list[tuple[exp.Expr, int]] = [(expression, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > bounds.max_nodes:
            raise QueryTooCostly(
                "query_too_large", f"The query has more than {bounds.max_nodes} parts; make it shorter"
            )
        if depth > bounds.max_depth:
            raise QueryTooCostly(
                "query_too_deep",
                f"The query nests more than {bounds.max_depth} levels deep; flatten its expressions",
            )
        if isinstance(node, exp.Select | exp.SetOperation):
            selects += 1
            if selects > bounds.max_selects:
                raise QueryTooCostly(
                    "too_many_selects",
                    f"The query has more than {bounds.max_selects} SELECTs; write it with fewer subqueries",
                )
        chained = isinstance(node, exp.Connector | exp.Binary)
        for child in node.iter_expressions():
            same_chain = chained and type(child) is type(node)
            stack.append((child, depth if same_chain else depth + 1))
