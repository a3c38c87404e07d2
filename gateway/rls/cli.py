"""``gateway rewrite``: rewrite queries from the command line (one query, or JSON lines with ``--batch``).

Batch request (one JSON object per line on stdin)::

    {"id": "1", "sql": "SELECT ...", "dialect": "postgres", "default_schema": "public",
     "tables": {"public.orders": {"rules": ["tenant_id = 1"]}, "public.products": {"rules": []}}}

Table names are written as in the dialect (``public."MixedCase"``); a table's rules are AND-ed, an empty list
reads it unfiltered, and a table not listed may not be read. Each request gets one line on stdout, in
order: ``{"id": ..., "sql": ...}`` or ``{"id": ..., "error": {"code": ..., "message": ...}}``.

Beyond that contract, an optional ``default_catalog`` field (``--default-catalog``) names the catalog of
table names written without one (Trino, Snowflake, BigQuery).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import IO

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.dialects import dialect_of
from gateway.rls.errors import RlsError
from gateway.rls.resolve import combine_clauses
from gateway.rls.rewrite import FilterMode, RewriteCache, rewrite_sql

EXIT_REFUSED = 2


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the ``rewrite`` command's arguments to ``parser``."""
    parser.add_argument("sql", nargs="?", help="the query to rewrite (omit with --batch)")
    parser.add_argument("--batch", action="store_true", help="read JSON-line requests on stdin")
    parser.add_argument(
        "--dialect", default="postgres", help="sqlglot dialect of the query (default: postgres)"
    )
    parser.add_argument(
        "--table",
        action="append",
        default=[],
        metavar="NAME[=CLAUSE]",
        help="a readable table, with an optional filter clause; repeat a name to AND several clauses",
    )
    parser.add_argument("--default-schema", help="schema of unqualified names (default: the dialect's)")
    parser.add_argument("--default-catalog", help="catalog (database, project) of names without one")
    parser.add_argument(
        "--mode",
        choices=[mode.value for mode in FilterMode],
        default=FilterMode.DERIVED_TABLES.value,
        help="derived tables (default) or predicates in WHERE/ON for engines without derived tables",
    )


def run(args: argparse.Namespace) -> int:
    """Run the command; return the process exit code (2 when a single query is refused)."""
    # sqlglot warns when it falls back to an opaque command (EXPLAIN, SET ...); we refuse those with our
    # own message, and stderr should carry only that.
    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    mode = FilterMode(args.mode)
    if args.batch:
        if args.sql is not None or args.table:
            print("--batch takes requests on stdin, not SQL or --table", file=sys.stderr)
            return EXIT_REFUSED
        run_batch(sys.stdin.buffer, sys.stdout, mode=mode)
        return 0
    if args.sql is None:
        print("Give the SQL to rewrite, or --batch", file=sys.stderr)
        return EXIT_REFUSED
    request = RewriteRequest(
        sql=args.sql,
        dialect=args.dialect,
        default_schema=args.default_schema,
        default_catalog=args.default_catalog,
        tables=_tables_from_flags(args.table),
    )
    try:
        print(rewrite_sql(request.sql, dialect=request.dialect, catalog=request.catalog(), mode=mode))
    except RlsError as error:
        print(f"refused ({error.code}): {error.message}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def run_batch(lines: Iterable[bytes], out: IO[str], *, mode: FilterMode = FilterMode.DERIVED_TABLES) -> None:
    """Answer each JSON-line request on ``lines`` with one JSON line on ``out``, in order.

    Lines are read as bytes so that one line of invalid UTF-8 gets its error answer like any other bad line.
    """
    cache = RewriteCache()
    for line in lines:
        if not line.strip():
            continue
        out.write(json.dumps(_answer(line, mode=mode, cache=cache)) + "\n")
        out.flush()


@dataclass(frozen=True)
class RewriteRequest:
    """One query to rewrite and the tables it may read (name as written -> clauses to AND)."""

    sql: str
    dialect: str
    default_schema: str | None
    default_catalog: str | None
    tables: Mapping[str, list[str]]

    def catalog(self) -> Catalog:
        """The readable tables, each with its clauses validated and AND-ed."""
        try:
            dialect_of(self.dialect)
        except ValueError:
            raise RlsError("unknown_dialect", f"Unknown dialect {self.dialect!r}") from None
        predicates = {
            name: combine_clauses(parse_clause(rule, dialect=self.dialect, columns=None) for rule in rules)
            for name, rules in self.tables.items()
        }
        return Catalog.build(
            predicates,
            dialect=self.dialect,
            default_schema=self.default_schema,
            default_catalog=self.default_catalog,
        )


def _answer(line: bytes, *, mode: FilterMode, cache: RewriteCache) -> dict[str, object]:
    request_id: object = None
    try:
        fields = json.loads(line)
        if not isinstance(fields, dict):
            raise RlsError("bad_request", "A request must be a JSON object")
        request_id = fields.get("id")
        request = _parse_request(fields)
        rewritten = cache.rewrite_sql(
            request.sql, dialect=request.dialect, catalog=request.catalog(), mode=mode
        )
        return {"id": request_id, "sql": rewritten}
    except ValueError as error:  # not JSON, or not UTF-8
        return {"id": None, "error": {"code": "bad_request", "message": f"Invalid JSON: {error}"}}
    except RlsError as error:
        return {"id": request_id, "error": {"code": error.code, "message": error.message}}
    except Exception as error:  # a bad line must never stop the batch: answer it and go on
        return {
            "id": request_id,
            "error": {"code": "internal_error", "message": f"{type(error).__name__}: {error}"},
        }


def _parse_request(fields: Mapping[str, object]) -> RewriteRequest:
    sql = fields.get("sql")
    dialect = fields.get("dialect", "postgres")
    default_schema = fields.get("default_schema")
    default_catalog = fields.get("default_catalog")
    tables = fields.get("tables")
    if not isinstance(sql, str):
        raise RlsError("bad_request", "Field 'sql' must be a string")
    if not isinstance(dialect, str):
        raise RlsError("bad_request", "Field 'dialect' must be a string")
    if default_schema is not None and not isinstance(default_schema, str):
        raise RlsError("bad_request", "Field 'default_schema' must be a string")
    if default_catalog is not None and not isinstance(default_catalog, str):
        raise RlsError("bad_request", "Field 'default_catalog' must be a string")
    if not isinstance(tables, dict):
        raise RlsError("bad_request", "Field 'tables' must be an object")
    rules_by_table: dict[str, list[str]] = {}
    for name, spec in tables.items():
        rules = spec.get("rules") if isinstance(spec, dict) else None
        if not isinstance(rules, list) or not all(isinstance(rule, str) for rule in rules):
            raise RlsError("bad_request", f"tables[{name!r}].rules must be a list of strings")
        rules_by_table[name] = rules
    return RewriteRequest(
        sql=sql,
        dialect=dialect,
        default_schema=default_schema,
        default_catalog=default_catalog,
        tables=rules_by_table,
    )


def _tables_from_flags(flags: list[str]) -> dict[str, list[str]]:
    """``NAME=CLAUSE`` and ``NAME`` flags -> name -> clauses (the first ``=`` separates them)."""
    tables: dict[str, list[str]] = {}
    for flag in flags:
        name, separator, clause = flag.partition("=")
        rules = tables.setdefault(name.strip(), [])
        if separator:
            rules.append(clause)
    return tables
