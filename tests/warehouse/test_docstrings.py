"""The examples in the connector docstrings run, and they are there."""

from __future__ import annotations

import doctest

from gateway.warehouse import connector


def test_docstring_examples() -> None:
    result = doctest.testmod(connector)
    assert result.attempted > 0 and result.failed == 0
