"""The functions a guest may call: every allowed name is still a function class of the installed sqlglot,
a function off the lists is refused, and one on them is kept."""

from __future__ import annotations

import pytest
from sqlglot import exp

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.errors import ClauseError, RewriteRefused
from gateway.rls.functions import CLAUSE_FUNCTION_NAMES, QUERY_FUNCTION_NAMES
from gateway.rls.rewrite import rewrite_sql


def _rewrite(sql: str, dialect: str) -> str:
    return rewrite_sql(sql, dialect=dialect, catalog=Catalog.build({}, dialect=dialect))


@pytest.mark.parametrize("name", sorted(QUERY_FUNCTION_NAMES | CLAUSE_FUNCTION_NAMES))
def test_every_allowed_name_is_a_function_class_of_the_installed_sqlglot(name: str) -> None:
    function_class = getattr(exp, name, None)
    assert isinstance(function_class, type), f"sqlglot has no class {name}"
    assert issubclass(function_class, exp.Func), f"sqlglot's {name} is no longer a function"
    # An alias to another class would allow that class, and everything else sqlglot parses into it.
    assert function_class.__name__ == name, f"sqlglot's {name} is now {function_class.__name__}"


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("duckdb", "SELECT read_csv('/etc/passwd')"),
        ("duckdb", "SELECT read_parquet('s3://bucket/x.parquet')"),
        ("postgres", "SELECT pg_read_file('/etc/passwd')"),
        ("postgres", "SELECT lower(pg_read_file('/etc/passwd'))"),
        ("postgres", "SELECT current_setting('data_directory')"),
        # sqlglot's generic AGG is no built-in of any engine here: it would call whatever function the
        # warehouse's search path holds under that name.
        ("postgres", "SELECT agg(amount) FROM orders"),
        # sqlglot files these with the pure families; they reach files, secrets, keys and AI services.
        ("snowflake", "SELECT TO_FILE('@stage/secret.csv')"),
        ("snowflake", "SELECT SECRET('vault', 'api_key')"),
        ("snowflake", "SELECT DECRYPT(TO_BINARY('00'), 'passphrase')"),
        ("snowflake", "SELECT ENCRYPT('x', 'passphrase')"),
        ("snowflake", "SELECT AI_AGG(n, 'summarise') FROM (SELECT 'a' AS n) AS t"),
        ("bigquery", "SELECT GENERATE_DATE_ARRAY(DATE '2020-01-01', DATE '2020-12-31')"),
    ],
)
def test_a_function_off_the_list_is_refused(dialect: str, sql: str) -> None:
    with pytest.raises(RewriteRefused) as refusal:
        _rewrite(sql, dialect)
    assert refusal.value.code == "function_forbidden"


@pytest.mark.parametrize(
    ("dialect", "sql"),
    [
        ("postgres", "SELECT LOWER('A'), REGEXP_REPLACE('a', 'a', 'b')"),
        ("postgres", "SELECT DATE_TRUNC('MONTH', CURRENT_DATE)"),
        ("postgres", "SELECT COALESCE(NULL, ABS(-1)), ROUND(1.5)"),
        ("postgres", "SELECT CAST('{}' AS JSONB) -> 'a'"),
        ("duckdb", "SELECT COUNT(*), AVG(n) FROM (SELECT 1 AS n) AS t"),
        ("bigquery", "SELECT FORMAT_DATE('%Y', CURRENT_DATE)"),
    ],
)
def test_a_function_on_the_list_is_kept(dialect: str, sql: str) -> None:
    assert _rewrite(sql, dialect) == sql


@pytest.mark.parametrize(
    ("dialect", "clause"),
    [
        ("duckdb", "read_csv('/etc/passwd') IS NOT NULL"),
        ("postgres", "regexp_replace(region, 'a', 'b') = 'x'"),  # a query may call it, a clause may not
    ],
)
def test_a_clause_function_off_the_clause_list_is_refused(dialect: str, clause: str) -> None:
    with pytest.raises(ClauseError) as refusal:
        parse_clause(clause, dialect=dialect, columns={"region"})
    assert refusal.value.code == "clause_function"


def test_a_clause_function_on_the_clause_list_is_kept() -> None:
    clause = parse_clause("upper(region) = 'EU'", dialect="postgres", columns={"region"})
    assert clause.sql("postgres") == "UPPER(region) = 'EU'"
