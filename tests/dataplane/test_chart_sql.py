"""Chart query specs become SQL that a real DuckDB answers exactly like the hand-written query."""

from __future__ import annotations

import doctest
from collections.abc import Iterator
from typing import Any

import duckdb
import pytest

from gateway.data import chart_sql
from gateway.data.chart_sql import chart_query
from gateway.rls.errors import ClauseError
from gateway.rls.filter_spec import FilterSpec
from tenants.store import Column, Dataset

ORDERS = Dataset(
    1,
    "t",
    "orders",
    "wh",
    "duckdb",
    "main.orders",
    None,
    (
        Column("id", "INTEGER"),
        Column("region", "VARCHAR"),
        Column("amount", "DOUBLE"),
        Column("Status", "VARCHAR"),
    ),
)


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    connection.execute('CREATE TABLE orders (id INTEGER, region VARCHAR, amount DOUBLE, "Status" VARCHAR)')
    rows = [
        (i, ["EU", "US", "APAC", "O'Hara"][i % 4], float(i * 3 % 17), ["open", "paid"][i % 2])
        for i in range(200)
    ]
    connection.executemany("INSERT INTO orders VALUES (?, ?, ?, ?)", rows)
    yield connection
    connection.close()


def run(db: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return db.execute(sql).fetchall()


REVENUE = {"aggregate": "SUM", "column": "amount", "label": "revenue"}
CASES = {
    "bar-by-region": (
        {"metrics": [REVENUE], "groupby": ["region"], "order_by": [{"column": "revenue", "descending": 1}]},
        [],
        "SELECT region, SUM(amount) AS revenue FROM orders GROUP BY region ORDER BY revenue DESC",
    ),
    "big-number": (
        {
            "metrics": [
                {"aggregate": "COUNT", "label": "n"},
                {"aggregate": "COUNT_DISTINCT", "column": "region", "label": "regions"},
            ]
        },
        [FilterSpec(column="Status", op="==", value="paid")],
        """SELECT COUNT(*), COUNT(DISTINCT region) FROM orders WHERE "Status" = 'paid'""",
    ),
    "table-with-filters": (
        {
            "groupby": ["id", "region"],
            "filters": [{"column": "amount", "op": "BETWEEN", "value": [3, 9]}],
            "order_by": [{"column": "id"}],
        },
        [FilterSpec(column="region", op="IN", value=["EU", "O'Hara"])],
        "SELECT id, region FROM orders WHERE amount BETWEEN 3 AND 9 "
        "AND region IN ('EU', 'O''Hara') ORDER BY id",
    ),
    "mixed-case-column": (
        {
            "metrics": [
                {"aggregate": "AVG", "column": "amount", "label": "avg"},
                {"aggregate": "MAX", "column": "id", "label": "last"},
            ],
            "groupby": ["Status"],
            "order_by": [{"column": "Status"}],
        },
        [FilterSpec(column="region", op="NOT IN", value=["US"]), FilterSpec(column="id", op=">=", value=10)],
        'SELECT "Status", AVG(amount), MAX(id) FROM orders '
        """WHERE region <> 'US' AND id >= 10 GROUP BY "Status" ORDER BY "Status" """,
    ),
}


@pytest.mark.parametrize(("spec", "user_filters", "expected"), CASES.values(), ids=CASES.keys())
def test_built_query_answers_like_the_hand_written_one(
    db: duckdb.DuckDBPyConnection, spec: dict[str, Any], user_filters: list[FilterSpec], expected: str
) -> None:
    built = chart_query(spec, ORDERS, user_filters=user_filters, row_limit=1000).sql("duckdb")
    assert run(db, built) == run(db, expected + " LIMIT 1000")


def test_the_row_limit_caps_the_answer(db: duckdb.DuckDBPyConnection) -> None:
    spec = {"groupby": ["id"], "order_by": [{"column": "id"}]}
    assert len(run(db, chart_query(spec, ORDERS, user_filters=[], row_limit=7).sql("duckdb"))) == 7


@pytest.mark.parametrize(
    "value",
    ["EU' OR '1'='1", "EU'; DROP TABLE orders; --", "EU\\' OR 1=1 --", "') OR (1=1"],
)
def test_injection_in_a_filter_value_is_only_a_value(db: duckdb.DuckDBPyConnection, value: str) -> None:
    spec = {"metrics": [{"aggregate": "COUNT", "label": "n"}]}
    built = chart_query(
        spec, ORDERS, user_filters=[FilterSpec(column="region", op="==", value=value)], row_limit=10
    )
    assert run(db, built.sql("duckdb")) == [(0,)]
    assert run(db, "SELECT COUNT(*) FROM orders") == [(200,)]


@pytest.mark.parametrize(
    ("spec", "user_filters"),
    [
        ({"groupby": ["secret"]}, []),
        ({"metrics": [{"aggregate": "SUM", "column": "amount; DROP TABLE orders", "label": "x"}]}, []),
        ({"groupby": ["region"]}, [FilterSpec(column="password", op="==", value="x")]),
        ({"groupby": ["region"], "order_by": [{"column": "region) UNION SELECT 1 --"}]}, []),
    ],
    ids=["unknown-groupby", "column-with-sql", "unknown-filter-column", "order-with-sql"],
)
def test_names_outside_the_dataset_are_refused(spec: dict[str, Any], user_filters: list[FilterSpec]) -> None:
    with pytest.raises(ClauseError):
        chart_query(spec, ORDERS, user_filters=user_filters, row_limit=10)


def test_module_examples_hold() -> None:
    result = doctest.testmod(chart_sql)
    assert result.attempted > 0 and result.failed == 0
