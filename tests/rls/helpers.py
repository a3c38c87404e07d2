"""Helpers shared by the differential suites."""

from __future__ import annotations

import functools
import os
from collections import Counter
from dataclasses import dataclass

import duckdb
import psycopg
import pytest

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.errors import RewriteRefused
from gateway.rls.rewrite import FilterMode, rewrite_sql
from tests.rls.schema import RULE_SETS

POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@dataclass(frozen=True)
class RowSecurityDatabase:
    """A database whose tables have PostgreSQL row security: one restricted role per rule set."""

    owner: psycopg.Connection[tuple[object, ...]]
    restricted: dict[str, psycopg.Connection[tuple[object, ...]]]


@dataclass(frozen=True)
class FilteredDuckDB:
    """A DuckDB database, and per rule set a schema of views filtered by the same predicates."""

    connection: duckdb.DuckDBPyConnection
    view_schemas: dict[str, str]


RULE_SETS_BY_NAME = {rule_set.name: rule_set for rule_set in RULE_SETS}


def orders_catalog(dialect: str) -> Catalog:
    """``orders`` filtered on ``tenant_id = 1``, ``products`` unfiltered, in the dialect's default schema."""
    schema = "main" if dialect == "duckdb" else "public"
    predicate = parse_clause("tenant_id = 1", dialect=dialect, columns=None)
    return Catalog.build({f"{schema}.orders": predicate, f"{schema}.products": None}, dialect=dialect)


def refusal_code(sql: str, dialect: str = "postgres", mode: FilterMode = FilterMode.DERIVED_TABLES) -> str:
    """The code of the rewriter's refusal of ``sql`` over ``orders_catalog`` (fails if it is rewritten)."""
    with pytest.raises(RewriteRefused) as refusal:
        rewrite_sql(sql, dialect=dialect, catalog=orders_catalog(dialect), mode=mode)
    return refusal.value.code


@functools.cache
def catalog_for(rule_set_name: str, dialect: str) -> Catalog:
    return RULE_SETS_BY_NAME[rule_set_name].catalog(dialect)


def multiset(rows: list[tuple[object, ...]]) -> Counter[str]:
    """Rows as a multiset; ``repr`` makes arrays and composite values comparable and hashable."""
    return Counter(repr(row) for row in rows)


def rewrite_unless_where_mode_refuses(query: str, catalog: Catalog, mode: FilterMode) -> str | None:
    """The rewritten query, or ``None`` when the WHERE mode refused it with one of its own reasons.

    Derived tables must handle every accepted query; any other refusal fails the test.
    """
    try:
        return rewrite_sql(query, dialect=catalog.dialect, catalog=catalog, mode=mode)
    except RewriteRefused as refusal:
        if mode is not FilterMode.WHERE or not refusal.code.startswith("where_mode_"):
            raise
        return None
