"""Fixtures of the row-level-security suites: a private PostgreSQL database with row security, DuckDB, Redis.

Everything is created with random names and dropped afterwards; an unreachable service is an error.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import duckdb
import psycopg
import pytest
from psycopg import sql

from tests.rls.helpers import POSTGRES_URL, FilteredDuckDB, RowSecurityDatabase
from tests.rls.schema import PROTECTED, RULE_SETS, TABLES_DDL, RuleSet, rows


def _policy_clause(rule_set: RuleSet, table: str) -> str:
    predicate = rule_set.predicates("postgres")[f"public.{table}"]
    return predicate.sql("postgres") if predicate is not None else "TRUE"


@pytest.fixture(scope="session")
def row_security_db() -> Iterator[RowSecurityDatabase]:
    suffix = secrets.token_hex(4)
    database = f"gw_rls_{suffix}"
    roles = {rule_set.name: f"gw_rls_{rule_set.name}_{suffix}" for rule_set in RULE_SETS}
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        for role in roles.values():
            admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    url = psycopg.conninfo.make_conninfo(POSTGRES_URL, dbname=database)
    connections: list[psycopg.Connection[tuple[object, ...]]] = []
    try:
        owner = psycopg.connect(url, autocommit=True)
        connections.append(owner)
        for statement in TABLES_DDL:
            owner.execute(statement)
        for table, values in rows():
            placeholders = ", ".join(["%s"] * len(values))
            owner.execute(f"INSERT INTO {table} VALUES ({placeholders})", values)
        for table in PROTECTED:
            owner.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            for rule_set in RULE_SETS:
                grantee = sql.Identifier(roles[rule_set.name])
                owner.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(sql.SQL(table), grantee))
                owner.execute(
                    sql.SQL("CREATE POLICY {} ON {} FOR SELECT TO {} USING ({})").format(
                        sql.Identifier(f"p_{rule_set.name}"),
                        sql.SQL(table),
                        grantee,
                        sql.SQL(_policy_clause(rule_set, table)),
                    )
                )
        restricted = {}
        for rule_set in RULE_SETS:
            connection = psycopg.connect(url, autocommit=True, user=roles[rule_set.name])
            connections.append(connection)
            restricted[rule_set.name] = connection
        yield RowSecurityDatabase(owner=owner, restricted=restricted)
    finally:
        for connection in connections:
            connection.close()
        with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
            for role in roles.values():
                admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture(scope="session")
def filtered_duckdb() -> Iterator[FilteredDuckDB]:
    connection = duckdb.connect(":memory:")
    for statement in TABLES_DDL:
        connection.execute(statement)
    for table, values in rows():
        connection.execute(f"INSERT INTO {table} VALUES ({', '.join(['?'] * len(values))})", list(values))
    view_schemas = {}
    for rule_set in RULE_SETS:
        schema = f"views_{rule_set.name}"
        connection.execute(f"CREATE SCHEMA {schema}")
        for table, predicate in zip(rule_set.rules, rule_set.predicates("duckdb").values(), strict=True):
            where = predicate.sql("duckdb") if predicate is not None else "TRUE"
            connection.execute(f"CREATE VIEW {schema}.{table} AS SELECT * FROM main.{table} WHERE {where}")
        view_schemas[rule_set.name] = schema
    try:
        yield FilteredDuckDB(connection=connection, view_schemas=view_schemas)
    finally:
        connection.close()
