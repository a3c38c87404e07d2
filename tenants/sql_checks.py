"""The SQL an operator registers, checked when it is registered rather than when a user first hits it.

Dataset table references, virtual-dataset and chart SQL, chart query specs and row-filter clauses
are parsed with sqlglot in the warehouse's dialect; what the row-level-security engine would
refuse at query time is refused here already.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.errors import ClauseError, RewriteRefused
from gateway.rls.rewrite import parse_query
from gateway.rls.validate import validate
from tenants.errors import Invalid

SYSTEM_SCHEMAS: Final = frozenset({"pg_catalog", "information_schema", "system", "pg_toast", "mysql", "sys"})
# A quoted name with a path or URL character is a file to DuckDB (replacement scans), never a table.
_SAFE_NAME_PART: Final = re.compile(r"^[A-Za-z0-9_$ -]{1,128}$")


@dataclass(frozen=True, slots=True)
class DatasetShape:
    name: str
    dialect: str
    columns: frozenset[str]


def column_names(columns: Iterable[dict[str, Any]]) -> frozenset[str]:
    return frozenset(c["name"] for c in columns)


def check_clause(clause: str, shapes: Sequence[DatasetShape], *, fallback_dialect: str, field: str) -> None:
    """The clause must be valid for every dataset it will filter (all of them, for `*` filters)."""
    try:
        if not shapes:
            parse_clause(clause, dialect=fallback_dialect, columns=None)
        for shape in shapes:
            parse_clause(clause, dialect=shape.dialect, columns=shape.columns)
    except ClauseError as exc:
        where = f" for dataset {shapes[0].name!r}" if len(shapes) == 1 else ""
        raise Invalid(f"{exc.message}{where}", code=exc.code, field=field) from None


def single_query(sql: str, dialect: str, *, field: str) -> None:
    """One plain read, by the rules of the rewriter: no DML (even in a CTE), no SELECT INTO, no
    locking clause, no function outside the dialect's allow-list."""
    try:
        validate(
            parse_query(sql, dialect=dialect), catalog=Catalog.build({}, dialect=dialect), dialect=dialect
        )
    except RewriteRefused as exc:
        raise Invalid(exc.message, code=exc.code, field=field) from None


def check_table_reference(table: str, dialect: str) -> str:
    """`schema.table` or `table`, as the warehouse names it; returns it in the dialect's normal form."""
    if "--" in table or "/*" in table:
        raise Invalid("a table reference cannot contain comments", field="table")
    try:
        parsed = sqlglot.parse_one(table, read=dialect, into=exp.Table)
    except SqlglotError:
        parsed = None
    if (
        not isinstance(parsed, exp.Table)
        or not isinstance(parsed.this, exp.Identifier)
        or parsed.alias
        or parsed.catalog
        or {name for name, value in parsed.args.items() if value} - {"this", "db"}
    ):
        raise Invalid("not a table reference such as schema.table", field="table")
    parts = [parsed.name, parsed.db] if parsed.db else [parsed.name]
    if not all(_SAFE_NAME_PART.match(part) for part in parts):
        raise Invalid(
            "a table or schema name may hold letters, digits, '_', '$', '-' and spaces", field="table"
        )
    if parsed.db.lower() in SYSTEM_SCHEMAS:
        raise Invalid(f"system catalog {parsed.db!r} cannot be a dataset", field="table")
    return parsed.sql(dialect=dialect)


def check_query_spec(spec: dict[str, Any], columns: frozenset[str], *, field: str) -> None:
    """Every column a chart's query spec names must be one of its dataset's columns."""

    def require(column: str | None, where: str) -> None:
        if column is not None and column not in columns:
            raise Invalid(f"{column!r} is not a column of the dataset", code="unknown_column", field=where)

    for i, metric in enumerate(spec.get("metrics", [])):
        require(metric.get("column"), f"{field}.metrics[{i}].column")
    for i, column in enumerate(spec.get("groupby", [])):
        require(column, f"{field}.groupby[{i}]")
    for i, query_filter in enumerate(spec.get("filters", [])):
        require(query_filter["column"], f"{field}.filters[{i}].column")
    labels = {metric["label"] for metric in spec.get("metrics", [])}
    for i, order in enumerate(spec.get("order_by", [])):
        if order["column"] not in labels:
            require(order["column"], f"{field}.order_by[{i}].column")
