"""``gateway rewrite``, run as a user runs it (``python -m gateway rewrite ...``)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _gateway(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", "rewrite", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_one_query_is_rewritten_with_its_filters() -> None:
    result = _gateway(
        "--dialect",
        "postgres",
        "--table",
        "public.orders=tenant_id = 1",
        "--table",
        "public.products",
        "SELECT p.name, sum(o.amount) FROM orders o JOIN products p ON p.id = o.product_id GROUP BY 1",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "SELECT p.name, SUM(o.amount) FROM (SELECT * FROM public.orders WHERE (orders.tenant_id = 1)) AS o "
        "JOIN public.products AS p ON p.id = o.product_id GROUP BY 1"
    )


def test_a_repeated_table_ands_its_clauses() -> None:
    result = _gateway(
        "--table",
        "public.orders=tenant_id = 1",
        "--table",
        "public.orders=region = 'EU' OR amount > 5",
        "SELECT id FROM orders",
    )
    assert "(orders.tenant_id = 1) AND (orders.region = 'EU' OR orders.amount > 5)" in result.stdout


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("SELECT * FROM secrets", "table_forbidden"),
        ("DELETE FROM orders", "statement_not_select"),
        ("SELECT pg_sleep(5)", "function_forbidden"),
        ("SELECT 1; SELECT 2", "multiple_statements"),
        ("EXPLAIN ANALYZE SELECT * FROM orders", "statement_not_select"),
    ],
)
def test_a_refused_query_exits_2_with_the_reason_on_stderr(query: str, code: str) -> None:
    result = _gateway("--table", "public.orders=tenant_id = 1", query)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"refused ({code}): ")
    assert len(result.stderr.splitlines()) == 1


def test_an_invalid_clause_is_refused() -> None:
    result = _gateway("--table", "public.orders=tenant_id = 1; DROP TABLE orders", "SELECT * FROM orders")
    assert result.returncode == 2
    assert "clause_multiple_statements" in result.stderr


def test_batch_answers_every_line_in_order_and_survives_bad_lines() -> None:
    good = {
        "id": "a",
        "sql": 'SELECT * FROM "MixedCase" JOIN products USING (id)',
        "dialect": "postgres",
        "default_schema": "public",
        "tables": {
            'public."MixedCase"': {"rules": ["k = 1", "label IS NULL"]},
            "public.products": {"rules": []},
        },
    }
    refused = {**good, "id": "b", "sql": "SELECT * FROM pg_catalog.pg_authid"}
    lines = [
        json.dumps(good),
        "this is not json",
        json.dumps({"id": "c", "sql": 42, "tables": {}}),
        json.dumps(refused),
        json.dumps({"id": "d", "sql": "SELECT 1", "dialect": "no-such-dialect", "tables": {}}),
        json.dumps(
            {"id": "e", "sql": "SELECT * FROM t", "tables": {"public.t": {"rules": ["x = (SELECT 1)"]}}}
        ),
        json.dumps([1, 2]),
        json.dumps(
            {
                **good,
                "id": "f",
                "dialect": "duckdb",
                "default_schema": "main",
                "tables": {"main.orders": {"rules": ["tenant_id = 1"]}},
                "sql": "SELECT * FROM ORDERS",
            }
        ),
    ]
    result = _gateway("--batch", stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert [answer["id"] for answer in answers] == ["a", None, "c", "b", "d", "e", None, "f"]
    assert answers[0] == {
        "id": "a",
        "sql": 'SELECT * FROM (SELECT * FROM public."MixedCase" WHERE ("MixedCase".k = 1) AND '
        '("MixedCase".label IS NULL)) AS "MixedCase" JOIN public.products USING (id)',
    }
    codes = [answer["error"]["code"] for answer in answers[1:7]]
    assert codes == [
        "bad_request",
        "bad_request",
        "table_forbidden",
        "unknown_dialect",
        "clause_subquery",
        "bad_request",
    ]
    assert all(answer["error"]["message"] for answer in answers[1:7])
    assert answers[7] == {
        "id": "f",
        "sql": "SELECT * FROM (SELECT * FROM main.orders WHERE (orders.tenant_id = 1)) AS orders",
    }


def test_batch_and_a_query_together_is_a_usage_error() -> None:
    result = _gateway("--batch", "SELECT 1")
    assert result.returncode == 2


def test_batch_answers_a_line_of_invalid_utf8_and_goes_on() -> None:
    good = json.dumps({"id": "ok", "sql": "SELECT 1", "tables": {}}).encode()
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "rewrite", "--batch"],
        input=b'{"id": "\xff\xfe"}\n' + good + b"\n",
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert answers[0]["error"]["code"] == "bad_request"
    assert answers[1] == {"id": "ok", "sql": "SELECT 1"}


def test_a_default_catalog_can_be_given() -> None:
    result = _gateway(
        "--dialect", "trino", "--default-schema", "sales", "--default-catalog", "hive",
        "--table", "sales.orders=tenant_id = 1", "SELECT count(*) FROM orders",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "SELECT COUNT(*) FROM (SELECT * FROM hive.sales.orders WHERE (orders.tenant_id = 1)) AS orders"
    )
