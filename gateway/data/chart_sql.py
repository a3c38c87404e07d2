"""A chart's query as SQL: built with sqlglot from its query spec, never from strings.

Column names come from the dataset's registered columns (quoted as the dialect requires), values
from filters are bound as literals, so neither a chart definition nor a user's filter can add SQL.
The result is plain SQL over the dataset's table; row-level security is applied afterwards by the
rewriter, on this SQL, like on any other query.

>>> from tenants.store import Column, Dataset
>>> orders = Dataset(1, "t", "orders", "wh", "postgres", "public.orders", None,
...                  (Column("region", "VARCHAR"), Column("amount", "NUMERIC")))
>>> spec = {"metrics": [{"aggregate": "SUM", "column": "amount", "label": "revenue"}], "groupby": ["region"]}
>>> chart_query(spec, orders, user_filters=[], row_limit=10).sql("postgres")
'SELECT region, SUM(amount) AS "revenue" FROM public.orders GROUP BY region LIMIT 10'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import sqlglot
from sqlglot import exp

from gateway.rls.clause import compile_typed_rule
from gateway.rls.errors import ClauseError
from gateway.rls.filter_spec import FilterSpec
from tenants.store import Dataset

_AGGREGATES: Final[Mapping[str, Callable[[exp.Expr], exp.Expr]]] = {
    "SUM": lambda column: exp.Sum(this=column),
    "AVG": lambda column: exp.Avg(this=column),
    "MIN": lambda column: exp.Min(this=column),
    "MAX": lambda column: exp.Max(this=column),
    "COUNT": lambda column: exp.Count(this=column),
    "COUNT_DISTINCT": lambda column: exp.Count(this=exp.Distinct(expressions=[column])),
}


def chart_query(
    spec: Mapping[str, Any], dataset: Dataset, *, user_filters: Sequence[FilterSpec], row_limit: int
) -> exp.Select:
    """The SELECT for a chart's query spec over `dataset`, with the user's filters AND-ed in.

    `row_limit` is the tightest of the request's, the chart's and the tenant's limits.
    Raises `ClauseError` for a filter on an unknown column or with a value unfit for its operator.
    """
    columns = [c.name for c in dataset.columns]
    dialect = dataset.dialect

    def column(name: str) -> exp.Expr:
        return exp.column(_identifier(name, columns))

    query = exp.select().from_(source_of(dataset))
    for name in spec.get("groupby", []):
        query = query.select(column(name), copy=False)
    for metric in spec.get("metrics", []):
        target = column(metric["column"]) if metric.get("column") else exp.Star()
        aggregate = _AGGREGATES[metric["aggregate"]](target)
        query = query.select(
            exp.alias_(aggregate, exp.to_identifier(metric["label"], quoted=True)), copy=False
        )
    conditions = [
        compile_typed_rule(f["column"], f["op"], f.get("value"), dialect=dialect, columns=columns)
        for f in spec.get("filters", [])
    ]
    query = _where_all(query, [*conditions, *_user_conditions(user_filters, dataset)])
    if spec.get("metrics") and spec.get("groupby"):
        query = query.group_by(*(column(name) for name in spec["groupby"]), copy=False)
    labels = {metric["label"] for metric in spec.get("metrics", [])}
    for order in spec.get("order_by", []):
        key = (
            exp.column(exp.to_identifier(order["column"], quoted=True))
            if order["column"] in labels
            else column(order["column"])
        )
        query = query.order_by(exp.Ordered(this=key, desc=bool(order.get("descending"))), copy=False)
    return query.limit(row_limit, copy=False)


def sql_chart_query(
    sql: str, dataset: Dataset, *, user_filters: Sequence[FilterSpec], row_limit: int
) -> exp.Select:
    """A chart written as SQL, as a derived table the user's filters and the row limit apply to.

    The user's filters name the chart's output columns; like every filter they must be columns of
    the chart's dataset.

    >>> from tenants.store import Column, Dataset
    >>> orders = Dataset(1, "t", "orders", "wh", "postgres", "public.orders", None,
    ...                  (Column("region", "VARCHAR"), Column("amount", "NUMERIC")))
    >>> region = FilterSpec(column="region", op="==", value="Europe")
    >>> sql_chart_query("SELECT region, amount FROM public.orders", orders, user_filters=[region],
    ...                 row_limit=5).sql("postgres")
    "SELECT * FROM (SELECT region, amount FROM public.orders) AS chart WHERE (region = 'Europe') LIMIT 5"
    """
    inner = sqlglot.parse_one(sql, read=dataset.dialect)
    query = exp.select(exp.Star()).from_(
        exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("chart")))
    )
    return _where_all(query, _user_conditions(user_filters, dataset)).limit(row_limit, copy=False)


def _user_conditions(user_filters: Sequence[FilterSpec], dataset: Dataset) -> list[exp.Expr]:
    columns = [c.name for c in dataset.columns]
    return [
        compile_typed_rule(f.column, f.op, f.value, dialect=dataset.dialect, columns=columns)
        for f in user_filters
    ]


def _where_all(query: exp.Select, conditions: Sequence[exp.Expr]) -> exp.Select:
    for condition in conditions:
        query = query.where(exp.paren(condition), copy=False)
    return query


def source_of(dataset: Dataset) -> exp.Expr:
    """The dataset's table, or its virtual SQL as a derived table named after the dataset."""
    if dataset.table_ref is not None:
        return exp.to_table(dataset.table_ref, dialect=dataset.dialect)
    assert dataset.sql is not None
    inner = sqlglot.parse_one(dataset.sql, read=dataset.dialect)
    return exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier(dataset.name, quoted=True)))


def _identifier(name: str, columns: Sequence[str]) -> exp.Identifier:
    # Registered column names are exact; quote the ones a dialect would otherwise fold or misread.
    if name not in columns:
        raise ClauseError("clause_unknown_column", f"Unknown column {name!r}")
    return exp.to_identifier(name, quoted=not name.isidentifier() or name != name.lower())
