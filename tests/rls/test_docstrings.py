"""The SQL-in/SQL-out examples in the engine's docstrings are true, and they are there."""

from __future__ import annotations

import doctest
import importlib

import pytest

# Every pass shows SQL in and out (STYLE.md); a module listed here that loses its examples fails.
MODULES_WITH_EXAMPLES = (
    "apply_filters",
    "apply_filters_in_where",
    "bounds",
    "catalog",
    "clause",
    "qualify",
    "resolve",
    "rewrite",
    "validate",
)


@pytest.mark.parametrize("module", MODULES_WITH_EXAMPLES)
def test_docstring_examples_hold(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"gateway.rls.{module}"))
    assert result.attempted > 0, f"gateway.rls.{module} has no docstring examples left"
    assert result.failed == 0
