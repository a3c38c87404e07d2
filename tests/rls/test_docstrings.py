"""The SQL-in/SQL-out examples in the engine's docstrings are true."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gateway.rls


@pytest.mark.parametrize(
    "module", [info.name for info in pkgutil.iter_modules(gateway.rls.__path__, prefix="gateway.rls.")]
)
def test_docstring_examples_hold(module: str) -> None:
    failures, _ = doctest.testmod(importlib.import_module(module))
    assert failures == 0
