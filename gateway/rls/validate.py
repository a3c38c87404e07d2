"""Refuse every query that is not a plain, safe read.

Runs first, over every node of the tree (not only over what sqlglot's scopes visit), so anything the later
passes would not see is refused here.
"""

from __future__ import annotations

from typing import Final

from sqlglot import exp

from gateway.rls.catalog import Catalog
from gateway.rls.errors import QueryTooCostly, RewriteRefused
from gateway.rls.functions import QUERY_FUNCTIONS, function_allowed, function_call

# Arguments of a table reference we know how to carry through a rewrite. A table with any other argument
# (TABLESAMPLE, time travel, index hints, PIVOT ...) is refused rather than silently dropped or kept outside
# the filter.
_TABLE_ARGS = frozenset({"this", "db", "catalog", "alias", "joins", "only"})

_STATEMENTS = (exp.DML, exp.DDL, exp.Command, exp.Copy, exp.Set, exp.Transaction, exp.Commit, exp.Rollback)


def validate(expression: exp.Expr, *, catalog: Catalog, dialect: str) -> exp.Expr:
    """Check that ``expression`` is a single read-only query built from constructs the rewriter knows.

    >>> import sqlglot
    >>> catalog = Catalog.build({"public.orders": None}, dialect="postgres")
    >>> validate(sqlglot.parse_one("SELECT * INTO t FROM orders"), catalog=catalog, dialect="postgres")
    Traceback (most recent call last):
    ...
    gateway.rls.errors.RewriteRefused: SELECT INTO writes a table; only reads are allowed

    Args:
        expression: the parsed query.
        catalog: unused here; present so every pass has the same signature.
        dialect: the query's dialect, for the function allow-list and messages.

    Returns:
        ``expression``, unchanged.

    Raises:
        RewriteRefused: with a code naming the first refused construct.
    """
    if not isinstance(expression, exp.Query):
        raise RewriteRefused(
            "statement_not_select", f"Only SELECT queries are allowed, not {_statement_name(expression)}"
        )
    made = 0
    for node in expression.walk():
        _check_node(node, dialect)
        if isinstance(node, _LENGTH_MAKERS):
            made += _made_length(node, dialect)
    if made > MAX_MADE_LENGTH:
        raise QueryTooCostly(
            "value_too_large",
            f"The query makes {made} characters with repeat, lpad, rpad or space; at most "
            f"{MAX_MADE_LENGTH} are allowed",
        )
    _check_recursive_forward_references(expression)
    return expression


def _check_recursive_forward_references(expression: exp.Expr) -> None:
    """Under WITH RECURSIVE, PostgreSQL lets a CTE see the CTEs defined after it; sqlglot's scopes
    resolve such a name to the table instead. The two would read different rows, so a CTE that names
    a later CTE of its WITH RECURSIVE is refused (compared without case: refusing more is safe)."""
    for with_ in expression.find_all(exp.With):
        if not with_.args.get("recursive"):
            continue
        names = [cte.alias.lower() for cte in with_.expressions]
        for position, cte in enumerate(with_.expressions):
            later = set(names[position + 1 :])
            for table in cte.this.find_all(exp.Table):
                if not table.db and table.name.lower() in later:
                    raise RewriteRefused(
                        "recursive_cte_forward_reference",
                        f"CTE {cte.alias!r} names {table.name!r}, defined after it in WITH RECURSIVE",
                    )


# The commonest nodes of a query, none of which can read, write or call anything: checked first so most
# nodes cost one set lookup. Subclasses are not included (``type(node)``, not ``isinstance``).
_INERT_NODES: frozenset[type[exp.Expr]] = frozenset(
    {
        exp.Identifier,
        exp.Literal,
        exp.Star,
        exp.Alias,
        exp.TableAlias,
        exp.Paren,
        exp.EQ,
        exp.NEQ,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.And,
        exp.Or,
        exp.Not,
        exp.In,
        exp.Is,
        exp.Null,
        exp.Boolean,
        exp.Where,
        exp.Group,
        exp.Order,
        exp.Ordered,
        exp.Limit,
        exp.Offset,
        exp.Having,
    }
)
# Bare words PostgreSQL and DuckDB answer with the connection's identity, though they parse as columns.
_SESSION_WORDS = frozenset(
    {
        "user",
        "current_user",
        "current_role",
        "session_user",
        "current_schema",
        "current_catalog",
        "current_database",
    }
)


def _check_node(node: exp.Expr, dialect: str) -> None:
    if type(node) in _INERT_NODES:
        return
    if type(node) is exp.Column:
        if not node.table and not node.this.quoted and node.name.lower() in _SESSION_WORDS:
            raise RewriteRefused("function_forbidden", f"{node.name} reveals the warehouse session")
        return
    if type(node) is exp.DataType:
        if node.this == exp.DataType.Type.USERDEFINED:
            # pg_catalog.regclass and friends turn numbers and strings into catalog lookups.
            raise RewriteRefused("type_forbidden", f"Casts to {node.sql(dialect)} are not allowed")
        return
    if isinstance(node, _STATEMENTS):
        raise RewriteRefused(
            "statement_not_select", f"{_statement_name(node)} is not allowed; only reads are"
        )
    if isinstance(node, exp.Select):
        if node.args.get("into"):
            raise RewriteRefused("select_into", "SELECT INTO writes a table; only reads are allowed")
        if node.args.get("locks"):
            raise RewriteRefused(
                "locking_clause", "Locking clauses (FOR UPDATE, FOR SHARE ...) are not allowed"
            )
    elif isinstance(node, exp.Placeholder | exp.Parameter | exp.SessionParameter):
        raise RewriteRefused("parameter", f"Parameters are not allowed: {node.sql(dialect)}")
    elif isinstance(node, exp.Table):
        _check_table(node, dialect)
    elif isinstance(node, exp.From | exp.Join):
        _check_source(node.this, dialect)
    elif isinstance(node, exp.Lateral) and not isinstance(node.this, exp.Subquery):
        raise RewriteRefused("table_function", f"LATERAL {node.this.sql(dialect)} is a table function")
    elif isinstance(node, exp.Dot) and isinstance(node.expression, exp.Func):
        raise RewriteRefused(
            "function_forbidden", f"Schema-qualified function {node.sql(dialect)!r} is not allowed"
        )
    elif isinstance(node, exp.ObjectIdentifier):
        raise RewriteRefused("type_forbidden", f"Casts to {node.sql(dialect)} read the system catalog")
    elif isinstance(node, exp.Func) and not function_allowed(node, QUERY_FUNCTIONS, dialect):
        raise RewriteRefused(
            "function_forbidden", f"Function {function_call(node, dialect)!r} is not allowed"
        )


# Functions whose answer can be far longer than their arguments. An engine builds a whole batch of rows
# (DuckDB: 2,048) before the gateway reads the first, beyond its own memory limit, so the answer-size
# bound cannot stop them: how much text they make must be known from the query, and is capped per query
# (per row, so a batch of DuckDB's stays within a few hundred megabytes).
_LENGTH_MAKERS: Final = (exp.Repeat, exp.Pad, exp.Space)
MAX_MADE_LENGTH: Final = 100_000
"""The most text ``repeat``, ``lpad``/``rpad`` and ``space`` may make in one query, in characters."""


def _made_length(node: exp.Repeat | exp.Pad | exp.Space, dialect: str) -> int:
    if isinstance(node, exp.Repeat):
        # Only a literal text repeated a literal number of times has a length known from the query.
        text, count = node.this, _integer(node.args.get("times"))
        made = len(text.this) * count if isinstance(text, exp.Literal) and text.is_string and count else None
    else:
        made = _integer(node.this if isinstance(node, exp.Space) else node.expression)
    if made is None:
        raise QueryTooCostly(
            "value_too_large",
            f"{function_call(node, dialect)!r} may make text of any length: give it literal arguments",
        )
    return made


def _integer(node: exp.Expr | None) -> int | None:
    if isinstance(node, exp.Literal) and node.is_int:
        return int(node.this)
    return None


def _check_table(table: exp.Table, dialect: str) -> None:
    if not isinstance(table.this, exp.Identifier):
        raise RewriteRefused("table_function", f"Table function {table.sql(dialect)!r} is not allowed")
    extra = sorted(key for key, value in table.args.items() if value and key not in _TABLE_ARGS)
    if extra:
        raise RewriteRefused(
            "table_modifier", f"{table.sql(dialect)!r}: table modifiers ({', '.join(extra)}) are not allowed"
        )


def _check_source(source: exp.Expr, dialect: str) -> None:
    if not isinstance(source, exp.Table | exp.Subquery | exp.Values | exp.Lateral):
        raise RewriteRefused("table_function", f"{source.sql(dialect)!r} is not a table or a subquery")


def _statement_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Command):
        return str(node.this).upper()
    return type(node).__name__.upper()
