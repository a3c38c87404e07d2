"""Mint-time validation of filter clauses and typed rules: every attack is refused with its reason."""

from __future__ import annotations

import pytest

from gateway.rls.clause import compile_typed_rule, parse_clause
from gateway.rls.errors import ClauseError

COLUMNS = {"tenant_id", "region", "amount", "created_at", "Status"}


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ("TENANT_ID = 1 AND region IN ('EU', 'US')", "TENANT_ID = 1 AND region IN ('EU', 'US')"),
        ("\"Status\" = 'open'", "\"Status\" = 'open'"),
        ("amount BETWEEN 1 AND 10 OR region IS NULL", "amount BETWEEN 1 AND 10 OR region IS NULL"),
        ("lower(region) LIKE 'e%'", "LOWER(region) LIKE 'e%'"),
        ("created_at > current_date - INTERVAL '30 days'", "created_at > CURRENT_DATE - INTERVAL '30 DAYS'"),
        ("NOT (tenant_id = 1)", "NOT (tenant_id = 1)"),
        ("coalesce(region, 'none') <> 'EU'", "COALESCE(region, 'none') <> 'EU'"),
        ("TRUE", "TRUE"),
    ],
)
def test_valid_clause_is_kept_as_written(clause: str, expected: str) -> None:
    assert parse_clause(clause, dialect="postgres", columns=COLUMNS).sql("postgres") == expected


@pytest.mark.parametrize(
    ("clause", "code"),
    [
        ("tenant_id = 1; DROP TABLE orders", "clause_multiple_statements"),
        ("tenant_id = 1) OR (1 = 1", "clause_syntax"),
        ("tenant_id = 1 -- AND region = 'EU'", "clause_comment"),
        ("tenant_id = 1 /* hidden */", "clause_comment"),
        ("tenant_id IN (SELECT tenant_id FROM secrets)", "clause_subquery"),
        ("EXISTS (SELECT 1 FROM secrets)", "clause_subquery"),
        ("tenant_id = (SELECT 1)", "clause_subquery"),
        ("SELECT 1", "clause_subquery"),
        ("set_config('row_security', 'off', false) IS NOT NULL", "clause_function"),
        ("pg_sleep(10) IS NULL", "clause_function"),
        ("pg_read_file('/etc/passwd') = ''", "clause_function"),
        ("current_setting('is_superuser') = 'on'", "clause_function"),
        ("version() LIKE '%'", "clause_function"),
        ("count(*) > 1", "clause_function"),
        ("tenant_id", "clause_not_boolean"),
        ("amount + 1", "clause_not_boolean"),
        ("status = 'x'", "clause_unknown_column"),
        ("secret_column = 1", "clause_unknown_column"),
        ("orders.tenant_id = 1", "clause_qualified_column"),
        ("public.orders.tenant_id = 1", "clause_qualified_column"),
        ("tenant_id = $1", "clause_parameter"),
        ("tenant_id = ?", "clause_parameter"),
        ('region = :"user.username"', "clause_parameter"),
        ("region = %(user.username)s", "clause_syntax"),
        ("tenant_id = {{ user.password }}", "clause_template"),
        ("region = '{{ user.username }}'", "clause_syntax"),
        ("row_number() OVER () = 1", "clause_unsupported"),
    ],
)
def test_unsafe_clause_is_refused_with_its_reason(clause: str, code: str) -> None:
    with pytest.raises(ClauseError) as error:
        parse_clause(clause, dialect="postgres", columns=COLUMNS)
    assert error.value.code == code
    assert str(error.value) == error.value.message


def test_columns_follow_the_dialect_case_rules() -> None:
    assert parse_clause("TENANT_ID = 1", dialect="snowflake", columns={"TENANT_ID"})
    with pytest.raises(ClauseError):
        parse_clause('"tenant_id" = 1', dialect="snowflake", columns={"TENANT_ID"})
    assert parse_clause('"TENANT_ID" = 1', dialect="duckdb", columns={"tenant_id"})


def test_templates_become_placeholders_to_bind() -> None:
    clause = parse_clause(
        "region IN ({{ user.attributes.regions }}) AND tenant_id = {{user.attributes.t}}",
        dialect="postgres",
        columns=COLUMNS,
    )
    assert (
        clause.sql("postgres")
        == "region IN (%(user.attributes.regions)s) AND tenant_id = %(user.attributes.t)s"
    )


@pytest.mark.parametrize(
    ("op", "value", "expected"),
    [
        ("==", "O'Hara' OR '1'='1", "region = 'O''Hara'' OR ''1''=''1'"),
        ("!=", 3, "region <> 3"),
        (">=", 2.5, "region >= 2.5"),
        ("IN", ["EU", "x'); DROP TABLE t; --"], "region IN ('EU', 'x''); DROP TABLE t; --')"),
        ("NOT IN", [1, 2], "NOT region IN (1, 2)"),
        ("LIKE", "E%", "region LIKE 'E%'"),
        ("IS NULL", None, "region IS NULL"),
        ("IS NOT NULL", None, "NOT region IS NULL"),
        ("BETWEEN", [1, 9], "region BETWEEN 1 AND 9"),
        ("==", True, "region = TRUE"),
    ],
)
def test_typed_rule_binds_values_as_literals(op: str, value: object, expected: str) -> None:
    assert (
        compile_typed_rule("region", op, value, dialect="postgres", columns=COLUMNS).sql("postgres")
        == expected
    )


def test_typed_rule_quotes_a_mixed_case_column() -> None:
    assert compile_typed_rule("Status", "==", "x", dialect="postgres", columns=COLUMNS).sql("postgres") == (
        "\"Status\" = 'x'"
    )


@pytest.mark.parametrize(
    ("column", "op", "value", "code"),
    [
        ("secret", "==", 1, "clause_unknown_column"),
        ("region", "=~", 1, "clause_operator"),
        ("region", "IN", [], "clause_value"),
        ("region", "IN", "EU", "clause_value"),
        ("region", "==", None, "clause_value"),
        ("region", "==", {"a": 1}, "clause_value"),
        ("region", "BETWEEN", [1], "clause_value"),
        ("region", "IS NULL", 1, "clause_value"),
        ("region", "==", float("nan"), "clause_value"),
        ("region", "LIKE", 5, "clause_value"),
    ],
)
def test_invalid_typed_rule_is_refused(column: str, op: str, value: object, code: str) -> None:
    with pytest.raises(ClauseError) as error:
        compile_typed_rule(column, op, value, dialect="postgres", columns=COLUMNS)
    assert error.value.code == code
