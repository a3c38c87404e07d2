"""Benchmark the row-level-security rewriter: ``python bench/rewrite.py``.

Prints the median microseconds per query over 20 dashboard-like queries for: sqlglot's bare parse and
generate (the floor), our parse, rewrite passes and generate (cold), and the rewrite LRU (hot). Then a
size sweep: the shapes a hostile guest sends (long sums, long OR chains, many subqueries, wide selects)
at 1x, 10x and 100x, cold, beside the floor on the same text, with the growth per 10x (10 is linear).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from importlib.metadata import version

import sqlglot
from sqlglot import exp

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.resolve import combine_clauses
from gateway.rls.rewrite import PASSES, RewriteCache, parse_query, rewrite_sql

DIALECT = "postgres"
REPEATS = 50
ROUNDS = 5

QUERIES = [
    "SELECT region, sum(amount) AS revenue FROM orders GROUP BY region ORDER BY revenue DESC",
    "SELECT date_trunc('month', created_at) AS m, count(*) FROM orders WHERE status = 'paid' GROUP BY 1 "
    "ORDER BY 1",
    "SELECT c.region, sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id GROUP BY c.region",
    "SELECT p.category, count(DISTINCT o.customer_id) FROM orders o LEFT JOIN products p ON p.id = "
    "o.product_id "
    "GROUP BY p.category",
    "SELECT c.name, sum(o.amount) AS total FROM customers c JOIN orders o ON o.customer_id = c.id "
    "WHERE o.created_at >= '2024-01-01' GROUP BY c.name ORDER BY total DESC LIMIT 10",
    "SELECT status, count(*), avg(amount), min(created_at), max(created_at) FROM orders GROUP BY status",
    "SELECT * FROM orders WHERE region IN ('EU', 'US') AND amount BETWEEN 10 AND 500 ORDER BY created_at "
    "DESC "
    "LIMIT 100",
    "WITH monthly AS (SELECT date_trunc('month', created_at) AS m, sum(amount) AS total FROM orders "
    "GROUP BY 1) "
    "SELECT m, total, total - lag(total) OVER (ORDER BY m) AS delta FROM monthly ORDER BY m",
    "SELECT region, status, count(*) FROM orders GROUP BY ROLLUP (region, status)",
    "SELECT c.id, c.name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id "
    "AND o.amount > 100)",
    "SELECT id, amount, rank() OVER (PARTITION BY region ORDER BY amount DESC) AS r FROM orders",
    "SELECT p.name, coalesce(s.total, 0) FROM products p LEFT JOIN (SELECT product_id, sum(amount) AS total "
    "FROM orders GROUP BY product_id) s ON s.product_id = p.id",
    "SELECT count(*) FILTER (WHERE status = 'cancelled') * 1.0 / count(*) AS cancel_rate FROM orders",
    "SELECT c.region, p.category, sum(o.amount) FROM orders o JOIN customers c ON c.id = o.customer_id "
    "JOIN products p ON p.id = o.product_id GROUP BY 1, 2 ORDER BY 3 DESC",
    "SELECT region FROM customers UNION SELECT region FROM orders",
    "SELECT extract(year FROM created_at) AS y, extract(month FROM created_at) AS mo, sum(amount) FROM "
    "orders "
    "GROUP BY 1, 2",
    "SELECT * FROM (SELECT region, sum(amount) AS total, rank() OVER (ORDER BY sum(amount) DESC) AS r "
    "FROM orders GROUP BY region) t WHERE r <= 3",
    "SELECT c.vip, count(o.id) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.vip",
    "SELECT id FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE amount > (SELECT avg(amount) "
    "FROM orders))",
    "SELECT CASE WHEN amount > 250 THEN 'large' ELSE 'small' END AS bucket, count(*) FROM orders GROUP BY 1",
]


SWEEP = {
    "sum of columns": lambda n: "SELECT " + " + ".join(["amount"] * n) + " FROM orders",
    "OR chain": lambda n: "SELECT id FROM orders WHERE " + " OR ".join(f"amount = {i}" for i in range(n)),
    "wide select": lambda n: "SELECT " + ", ".join(f"amount AS a{i}" for i in range(n)) + " FROM orders",
    "IN subqueries": lambda n: (
        "SELECT id FROM orders WHERE "
        + " AND ".join(f"id IN (SELECT id FROM orders WHERE amount > {i})" for i in range(n))
    ),
}
# 1x is a typical chart's size; 100x is near the rewriter's bounds (gateway.rls.bounds).
SWEEP_SIZES = {"sum of columns": 30, "OR chain": 15, "wide select": 20, "IN subqueries": 1}


def _catalog() -> Catalog:
    rules = {
        "public.orders": ["tenant_id = 1", "region = 'EU' OR amount > 400"],
        "public.customers": ["tenant_id = 1"],
        "public.products": [],
    }
    return Catalog.build(
        {
            name: combine_clauses(parse_clause(rule, dialect=DIALECT, columns=None) for rule in clauses)
            for name, clauses in rules.items()
        },
        dialect=DIALECT,
    )


def _medians_us(variants: dict[str, Callable[[str], object]]) -> dict[str, float]:
    """Per variant: the median over the queries of its best round (mean of REPEATS runs), in microseconds.

    Variants take turns on each query, round after round, so a burst of load elsewhere on the machine hits
    them alike; the best round discounts such noise (as ``timeit`` recommends).
    """
    per_query: dict[str, list[float]] = {name: [] for name in variants}
    for query in QUERIES:
        best = dict.fromkeys(variants, float("inf"))
        for _ in range(ROUNDS):
            for name, run in variants.items():
                start = time.perf_counter()
                for _ in range(REPEATS):
                    run(query)
                best[name] = min(best[name], (time.perf_counter() - start) / REPEATS * 1e6)
        for name, value in best.items():
            per_query[name].append(value)
    return {name: statistics.median(values) for name, values in per_query.items()}


def main() -> None:
    catalog = _catalog()
    compiled = sqlglot.parser.__file__.endswith(".so")

    def passes(query: str) -> exp.Expr:
        expression = parse_query(query, dialect=DIALECT)
        for rewrite_pass in PASSES:
            expression = rewrite_pass(expression, catalog=catalog, dialect=DIALECT)
        return expression

    rewritten = {query: passes(query) for query in QUERIES}
    hot_cache = RewriteCache()
    for query in QUERIES:
        hot_cache.rewrite_sql(query, dialect=DIALECT, catalog=catalog)

    us = _medians_us(
        {
            "floor": lambda query: sqlglot.parse_one(query, read=DIALECT).sql(DIALECT),
            "floor_without_copy": lambda query: sqlglot.parse_one(query, read=DIALECT).sql(
                DIALECT, copy=False
            ),
            "parse": lambda query: parse_query(query, dialect=DIALECT),
            "parse_and_passes": passes,
            "generate": lambda query: rewritten[query].sql(DIALECT, copy=False),
            "cold": lambda query: rewrite_sql(query, dialect=DIALECT, catalog=catalog),
            "hot": lambda query: hot_cache.rewrite_sql(query, dialect=DIALECT, catalog=catalog),
        }
    )
    floor, floor_without_copy, cold = us["floor"], us["floor_without_copy"], us["cold"]

    print(f"sqlglot {version('sqlglot')}, compiled (sqlglotc): {compiled}")
    print(f"{len(QUERIES)} dashboard queries, median microseconds per query (best of {ROUNDS} rounds)")
    print(f"  floor: sqlglot parse + .sql()                {floor:8.1f}")
    print(f"  floor: sqlglot parse + .sql(copy=False)      {floor_without_copy:8.1f}")
    print(f"  ours:  parse                                 {us['parse']:8.1f}")
    print(f"  ours:  rewrite passes (approx.)              {us['parse_and_passes'] - us['parse']:8.1f}")
    print(f"  ours:  generate the rewritten query          {us['generate']:8.1f}")
    print(
        f"  cold:  parse + rewrite + generate            {cold:8.1f}"
        f"   {cold / floor:.2f}x floor, {cold / floor_without_copy:.2f}x the no-copy floor (target <= 2x)"
    )
    print(f"  hot:   rewrite LRU hit                       {us['hot']:8.2f}   (target < 5 us)")
    _size_sweep(catalog)


def _best_ms(run: Callable[[], object], rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        best = min(best, (time.perf_counter() - start) * 1e3)
    return best


def _size_sweep(catalog: Catalog) -> None:
    print("size sweep, cold, best of 3, milliseconds (growth: cold time per 10x the size)")
    print(f"  {'shape':<16}{'size':>6}{'chars':>8}{'floor':>9}{'cold':>9}{'growth':>8}")
    for shape, build in SWEEP.items():
        previous = None
        for factor in (1, 10, 100):
            query = build(SWEEP_SIZES[shape] * factor)
            floor = _best_ms(lambda query=query: sqlglot.parse_one(query, read=DIALECT).sql(DIALECT))
            cold = _best_ms(lambda query=query: rewrite_sql(query, dialect=DIALECT, catalog=catalog))
            growth = f"{cold / previous:7.1f}x" if previous else ""
            print(f"  {shape:<16}{factor:>5}x{len(query):>8}{floor:>9.2f}{cold:>9.2f}{growth:>8}")
            previous = cold


if __name__ == "__main__":
    main()
