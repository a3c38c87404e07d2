"""Each pass against its fixture file (``fixtures/<pass>.sql``), in the style of sqlglot's optimizer tests.

A fixture is a ``# title`` line, the input query, and the expected output of the passes up to and
including that pass, or ``REFUSED <code>``. Fixtures are separated by blank lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from sqlglot import exp

from gateway.rls.apply_filters import apply_filters
from gateway.rls.apply_filters_in_where import apply_filters_in_where
from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.errors import RewriteRefused
from gateway.rls.qualify import qualify
from gateway.rls.rewrite import Pass, parse_query
from gateway.rls.validate import validate

FIXTURES = Path(__file__).parent / "fixtures"

PASS_CHAINS: dict[str, tuple[Pass, ...]] = {
    "validate": (validate,),
    "qualify": (validate, qualify),
    "apply_filters": (validate, qualify, apply_filters),
    "apply_filters_in_where": (validate, qualify, apply_filters_in_where),
}


class Fixture(NamedTuple):
    chain: str
    title: str
    sql: str
    expected: str


def _fixtures() -> list[Fixture]:
    fixtures = []
    for chain in PASS_CHAINS:
        for block in (FIXTURES / f"{chain}.sql").read_text().strip().split("\n\n"):
            title, sql, expected = block.strip().split("\n")
            fixtures.append(Fixture(chain, title.removeprefix("# "), sql, expected))
    return fixtures


def _catalog() -> Catalog:
    def clause(sql: str) -> exp.Expression:
        return parse_clause(sql, dialect="postgres", columns=None)

    return Catalog.build(
        {
            "public.orders": clause("tenant_id = 1 OR region = 'EU'"),
            "public.customers": clause("tenant_id = 1"),
            "public.products": None,
            'public."MixedCase"': clause("k = 1"),
        },
        dialect="postgres",
    )


@pytest.mark.parametrize("fixture", _fixtures(), ids=lambda fixture: f"{fixture.chain}: {fixture.title}")
def test_pass_fixture(fixture: Fixture) -> None:
    catalog = _catalog()
    try:
        expression = parse_query(fixture.sql, dialect="postgres")
        for rewrite_pass in PASS_CHAINS[fixture.chain]:
            expression = rewrite_pass(expression, catalog=catalog, dialect="postgres")
        actual = expression.sql("postgres")
    except RewriteRefused as refusal:
        actual = f"REFUSED {refusal.code}"
    assert actual == fixture.expected
