"""The schema, data and rule sets the row-level-security suites load into PostgreSQL and DuckDB."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from sqlglot import exp

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.resolve import combine_clauses

TABLES_DDL = (
    "CREATE TABLE customers (id INT PRIMARY KEY, tenant_id INT, name TEXT, region TEXT, vip BOOLEAN)",
    "CREATE TABLE orders (id INT PRIMARY KEY, tenant_id INT, customer_id INT, product_id INT,"
    " amount NUMERIC(10, 2), region TEXT, status TEXT, created_at DATE)",
    "CREATE TABLE products (id INT PRIMARY KEY, name TEXT, category TEXT, price NUMERIC(10, 2))",
    'CREATE TABLE "MixedCase" (id INT PRIMARY KEY, k INT, label TEXT)',
    "CREATE TABLE secrets (id INT PRIMARY KEY, data TEXT)",
)

PROTECTED = ("customers", "orders", "products", '"MixedCase"')
"""Tables in every catalog; ``secrets`` is in none (no token may read it)."""


def rows() -> Iterator[tuple[str, tuple[object, ...]]]:
    """Deterministic rows (table, values), with NULLs where outer joins and filters meet them."""
    rng = random.Random(4)
    regions = ["EU", "US", "APAC", None]
    for i in range(1, 13):
        yield "customers", (i, 1 + i % 3, f"c{i}", rng.choice(regions), i % 4 == 0)
    categories = ["a", "b", "c"]
    for i in range(1, 9):
        yield "products", (i, f"p{i}", categories[i % 3], 5 * i)
    statuses = ["paid", "shipped", "cancelled", None]
    for i in range(1, 61):
        customer = rng.choice([*range(1, 15), None])  # 13 and 14 do not exist: dangling references
        yield (
            "orders",
            (
                i,
                1 + i % 3,
                customer,
                rng.choice([*range(1, 10), None]),
                rng.randint(1, 500),
                rng.choice(regions),
                rng.choice(statuses),
                f"2024-{1 + i % 12:02d}-{1 + i % 27:02d}",
            ),
        )
    for i in range(1, 7):
        yield '"MixedCase"', (i, i % 3, None if i % 2 else f"l{i}")
    yield "secrets", (1, "the launch codes")


@dataclass(frozen=True)
class RuleSet:
    """Clauses per table (AND-ed); an empty list reads the table unfiltered."""

    name: str
    rules: dict[str, list[str]]

    def predicates(self, dialect: str) -> dict[str, exp.Expr | None]:
        return {
            f"public.{table}" if dialect == "postgres" else f"main.{table}": combine_clauses(
                parse_clause(rule, dialect=dialect, columns=None) for rule in clauses
            )
            for table, clauses in self.rules.items()
        }

    def catalog(self, dialect: str) -> Catalog:
        return Catalog.build(self.predicates(dialect), dialect=dialect)


RULE_SETS = (
    RuleSet(
        "tenant",
        {
            "orders": ["tenant_id = 1"],
            "customers": ["tenant_id = 1"],
            "products": [],
            '"MixedCase"': ["k = 1"],
        },
    ),
    RuleSet(
        "or_clauses",
        {
            "orders": ["region = 'EU' OR amount > 400", "status <> 'cancelled' OR status IS NULL"],
            "customers": ["tenant_id = 2 OR vip = TRUE", "region IN ('EU', 'US') OR region IS NULL"],
            "products": ["category IN ('a', 'b') OR price < 20"],
            '"MixedCase"': ["k = 2 OR label IS NULL"],
        },
    ),
)
