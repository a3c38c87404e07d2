"""Validation of row-level filter clauses and compilation of typed rules.

A clause is one boolean SQL expression over the columns of one dataset, e.g. ``tenant_id = 1 AND
region IN ('EU', 'US')``. It is validated once, at mint time, in the tenant's dialect, and kept as a sqlglot
expression from then on: it is never spliced into a query as text.

Templates
---------
A clause may name a property of the token's user where a SQL *value* stands::

    region = {{ user.attributes.region }}
    owner = {{ user.username }}
    region IN ({{ user.attributes.regions }})

A template must stand alone as a value: it is not written inside quotes (``'{{ user.username }}'`` is
refused). ``parse_clause`` validates the clause with each template replaced by a literal, then leaves an
``exp.Placeholder`` named after the template path (``user.attributes.region``) in the returned expression.
Resolution binds each placeholder to a literal built by sqlglot from the user's value; a placeholder that
reached the warehouse unbound would be a syntax/parameter error there, never a widened filter. A list value
is allowed only as an element of an ``IN (...)`` list, where it expands to one literal per item.
"""

from __future__ import annotations

import datetime
import decimal
import math
import re
import secrets
from collections.abc import Collection, Iterable

from sqlglot import exp
from sqlglot.errors import SqlglotError

from gateway.rls.dialects import dialect_of
from gateway.rls.errors import ClauseError, describe
from gateway.rls.functions import CLAUSE_FUNCTIONS, function_allowed, function_call

_TEMPLATE_RE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_TEMPLATE_PATH_RE = re.compile(r"user\.(?:username|first_name|last_name|attributes\.[A-Za-z_][A-Za-z0-9_]*)")

# Conditions a clause may be made of (with AND, OR, NOT and parentheses around them).
_PREDICATES: tuple[type[exp.Expr], ...] = (
    exp.EQ,
    exp.NEQ,
    exp.GT,
    exp.GTE,
    exp.LT,
    exp.LTE,
    exp.NullSafeEQ,
    exp.NullSafeNEQ,
    exp.Is,
    exp.In,
    exp.Between,
    exp.Like,
    exp.ILike,
)
_BOOLEAN_NODES: tuple[type[exp.Expr], ...] = (*_PREDICATES, exp.Boolean)

# Node types a clause may contain besides allowed function calls. Anything else (subqueries, stars,
# parameters, window functions, variables ...) is refused.
_CLAUSE_NODES: tuple[type[exp.Expr], ...] = (
    *_BOOLEAN_NODES,
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Null,
    exp.Paren,
    exp.Tuple,
    exp.Not,
    exp.Neg,
    exp.Add,
    exp.Sub,
    exp.Mul,
    exp.Div,
    exp.Mod,
    exp.DPipe,
    exp.DataType,
    exp.DataTypeParam,
    exp.Interval,
    exp.Var,
    exp.If,
    exp.Case,
)

TYPED_RULE_OPS = (
    "==",
    "!=",
    ">",
    ">=",
    "<",
    "<=",
    "IN",
    "NOT IN",
    "LIKE",
    "IS NULL",
    "IS NOT NULL",
    "BETWEEN",
)
_COMPARISONS: dict[str, type[exp.Binary]] = {
    "==": exp.EQ,
    "!=": exp.NEQ,
    ">": exp.GT,
    ">=": exp.GTE,
    "<": exp.LT,
    "<=": exp.LTE,
}


def parse_clause(clause: str, *, dialect: str, columns: Collection[str] | None) -> exp.Expression:
    """Validate a row-level filter clause and return it as a sqlglot expression.

    >>> parse_clause("TENANT_ID = 1 AND region IN ('EU', 'US')", dialect="postgres",
    ...              columns={"tenant_id", "region"}).sql("postgres")
    "TENANT_ID = 1 AND region IN ('EU', 'US')"
    >>> parse_clause("region = {{ user.attributes.region }}", dialect="postgres", columns=None).sql()
    'region = :user.attributes.region'

    Args:
        clause: the clause text, possibly with ``{{ user... }}`` templates (see the module docstring).
        dialect: the sqlglot dialect the clause is written in.
        columns: the dataset's column names as stored in the warehouse, or ``None`` to skip the check.

    Returns:
        The clause's expression, template slots as ``exp.Placeholder`` nodes.

    Raises:
        ClauseError: the clause is not a single safe boolean expression over ``columns``.
    """
    text, slots = _replace_templates(clause)
    try:
        expression = _parse_single_expression(text, dialect)
    except ClauseError as error:
        if slots and error.code == "clause_syntax":
            raise ClauseError(
                "clause_syntax",
                "Clause does not parse (a template must stand alone as a value, not inside quotes)",
            ) from None
        raise
    # Checked while each template is still a plain string literal: any placeholder seen here is the user's.
    _check_nodes(expression, dialect=dialect, columns=columns)
    expression = _restore_template_slots(expression, slots)
    if not _is_boolean(expression):
        raise ClauseError("clause_not_boolean", f"Clause {clause!r} is not a boolean condition")
    return _as_expression(expression)


def compile_typed_rule(
    column: str, op: str, value: object, *, dialect: str, columns: Collection[str]
) -> exp.Expression:
    """Compile a typed rule ``{column, op, value}`` to a clause, binding ``value`` as SQL literals.

    >>> compile_typed_rule("region", "IN", ["EU", "O'Hara"], dialect="postgres", columns=["region"]).sql()
    "region IN ('EU', 'O''Hara')"

    Args:
        column: a column of the dataset, as stored (or as written unquoted in the dialect).
        op: one of ``TYPED_RULE_OPS``.
        value: a scalar for comparisons and ``LIKE``, a non-empty list for ``IN``/``NOT IN``, a pair for
            ``BETWEEN``, ``None`` (or absent) for ``IS NULL``/``IS NOT NULL``.

    Raises:
        ClauseError: unknown column or operator, or a value of the wrong shape or type.
    """
    target = exp.column(_catalog_identifier(column, dialect=dialect, columns=columns))
    return _as_expression(_typed_condition(target, op, value))


def _typed_condition(target: exp.Column, op: str, value: object) -> exp.Expr:
    if op in _COMPARISONS:
        return _COMPARISONS[op](this=target, expression=_scalar_literal(value, op))
    if op == "LIKE":
        if not isinstance(value, str):
            raise ClauseError("clause_value", "LIKE needs a string pattern")
        return exp.Like(this=target, expression=exp.Literal.string(value))
    if op in ("IN", "NOT IN"):
        members = _value_list(value, op)
        if not members:
            raise ClauseError("clause_value", f"{op} needs a non-empty list of values")
        condition: exp.Expr = exp.In(this=target, expressions=members)
        return exp.Not(this=condition) if op == "NOT IN" else condition
    if op in ("IS NULL", "IS NOT NULL"):
        if value is not None:
            raise ClauseError("clause_value", f"{op} takes no value")
        condition = exp.Is(this=target, expression=exp.Null())
        return exp.Not(this=condition) if op == "IS NOT NULL" else condition
    if op == "BETWEEN":
        bounds = _value_list(value, op)
        if len(bounds) != 2:
            raise ClauseError("clause_value", "BETWEEN needs exactly two values [low, high]")
        return exp.Between(this=target, low=bounds[0], high=bounds[1])
    raise ClauseError(
        "clause_operator", f"Unknown operator {op!r}; expected one of {', '.join(TYPED_RULE_OPS)}"
    )


def literal(value: object) -> exp.Expr:
    """Build the SQL literal for a JSON-like scalar (str, int, float, bool, None, date, datetime, Decimal).

    Strings stay strings whatever they contain: ``"x' OR '1'='1"`` becomes one quoted literal.

    Raises:
        ClauseError: the value has no safe literal form (e.g. a dict, NaN).
    """
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float | decimal.Decimal):
        if not math.isfinite(value):
            raise ClauseError("clause_value", f"Value {value!r} is not a finite number")
        return exp.Literal.number(str(value))
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, datetime.datetime):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.TIMESTAMP)
    if isinstance(value, datetime.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.Type.DATE)
    raise ClauseError("clause_value", f"Value of type {type(value).__name__} cannot be a SQL literal")


def _as_expression(node: exp.Expr) -> exp.Expression:
    """Narrow sqlglot's static base type: every concrete node class derives from ``exp.Expression``."""
    if not isinstance(node, exp.Expression):
        raise ClauseError("clause_unsupported", f"{node!r} is not a SQL expression")
    return node


def _replace_templates(clause: str) -> tuple[str, dict[str, str]]:
    """Replace each ``{{ path }}`` by a unique string literal; return the text and literal -> path."""
    nonce = secrets.token_hex(8)
    slots: dict[str, str] = {}

    def substitute(match: re.Match[str]) -> str:
        path = match.group(1).strip()
        if not _TEMPLATE_PATH_RE.fullmatch(path):
            raise ClauseError(
                "clause_template",
                f"Unknown template {match.group(0)!r}: expected user.username, user.first_name, "
                "user.last_name or user.attributes.<name>",
            )
        sentinel = f"gw_template_{nonce}_{len(slots)}"
        slots[sentinel] = path
        return f"'{sentinel}'"

    return _TEMPLATE_RE.sub(substitute, clause), slots


def _restore_template_slots(expression: exp.Expr, slots: dict[str, str]) -> exp.Expr:
    found = 0
    for node in list(expression.find_all(exp.Literal)):
        path = slots.get(node.this) if node.is_string else None
        if path is not None:
            found += 1
            node.replace(exp.Placeholder(this=path))
    if found != len(slots):
        raise ClauseError(
            "clause_template", "A template must stand alone as a value, not inside a quoted string"
        )
    return expression


def _parse_single_expression(text: str, dialect: str) -> exp.Expr:
    try:
        sql_dialect = dialect_of(dialect)
    except ValueError:
        raise ClauseError("clause_dialect", f"Unknown dialect {dialect!r}") from None
    try:
        # Comments are looked for in the tokens: the parser attaches most, but not all, to nodes.
        tokens = sql_dialect.tokenize(text)
        if any(token.comments for token in tokens):
            raise ClauseError("clause_comment", "Comments are not allowed in a filter clause")
        statements = [s for s in sql_dialect.parser().parse(tokens, text) if s is not None]
    except SqlglotError as error:
        raise ClauseError("clause_syntax", f"Clause does not parse as {dialect}: {describe(error)}") from None
    if len(statements) != 1:
        raise ClauseError("clause_multiple_statements", "A filter clause must be exactly one expression")
    return statements[0]


def _check_nodes(expression: exp.Expr, *, dialect: str, columns: Collection[str] | None) -> None:
    known = _normalised_names(columns, dialect) if columns is not None else None
    for node in expression.walk():
        if node.comments:
            raise ClauseError("clause_comment", "Comments are not allowed in a filter clause")
        if isinstance(node, exp.Query | exp.Subquery | exp.Exists | exp.Command | exp.DDL | exp.DML):
            raise ClauseError(
                "clause_subquery", f"Subqueries and statements are not allowed: {node.sql(dialect)}"
            )
        if isinstance(node, exp.Placeholder | exp.Parameter):
            raise ClauseError("clause_parameter", f"Parameters are not allowed: {node.sql(dialect)}")
        if isinstance(node, exp.Func) and not isinstance(node, _CLAUSE_NODES):
            if not function_allowed(node, CLAUSE_FUNCTIONS, dialect):
                raise ClauseError(
                    "clause_function",
                    f"Function {function_call(node, dialect)!r} is not allowed in a filter clause",
                )
        elif not isinstance(node, _CLAUSE_NODES):
            raise ClauseError(
                "clause_unsupported", f"{node.sql(dialect)!r} is not allowed in a filter clause"
            )
        if isinstance(node, exp.Column):
            _check_column(node, dialect=dialect, known=known)


def _check_column(column: exp.Column, *, dialect: str, known: frozenset[str] | None) -> None:
    if column.table or column.args.get("db") or column.args.get("catalog"):
        raise ClauseError(
            "clause_qualified_column", f"Column {column.sql(dialect)!r} must not name a table or schema"
        )
    if not isinstance(column.this, exp.Identifier):
        raise ClauseError("clause_unsupported", f"{column.sql(dialect)!r} is not a column name")
    if known is not None:
        name = dialect_of(dialect).normalize_identifier(column.this.copy()).name
        if name not in known:
            raise ClauseError("clause_unknown_column", f"Unknown column {column.sql(dialect)!r}")


def _normalised_names(columns: Iterable[str], dialect: str) -> frozenset[str]:
    normalise = dialect_of(dialect).normalize_identifier
    return frozenset(normalise(exp.to_identifier(name, quoted=True)).name for name in columns)


def _is_boolean(node: exp.Expr) -> bool:
    if isinstance(node, exp.Paren):
        return _is_boolean(node.this)
    if isinstance(node, exp.Not):
        return _is_boolean(node.this)
    if isinstance(node, exp.And | exp.Or):
        return _is_boolean(node.left) and _is_boolean(node.right)
    return isinstance(node, _BOOLEAN_NODES)


def _catalog_identifier(column: str, *, dialect: str, columns: Collection[str]) -> exp.Identifier:
    """The identifier of the catalog column ``column`` names, quoted only where the dialect needs it."""
    sql_dialect = dialect_of(dialect)
    if column in columns:
        stored = column
    else:
        wanted = sql_dialect.normalize_identifier(exp.to_identifier(column)).name
        matches = [
            c
            for c in columns
            if sql_dialect.normalize_identifier(exp.to_identifier(c, quoted=True)).name == wanted
        ]
        if len(matches) != 1:
            raise ClauseError("clause_unknown_column", f"Unknown column {column!r}")
        stored = matches[0]
    return sql_dialect.quote_identifier(exp.to_identifier(stored, quoted=False), identify=False)


def _scalar_literal(value: object, op: str) -> exp.Expr:
    if value is None or isinstance(value, list | tuple | dict):
        raise ClauseError("clause_value", f"{op} needs a single non-null value (use IS NULL for nulls)")
    return literal(value)


def _value_list(value: object, op: str) -> list[exp.Expr]:
    if not isinstance(value, list | tuple):
        raise ClauseError("clause_value", f"{op} needs a list of values")
    return [_scalar_literal(item, op) for item in value]
