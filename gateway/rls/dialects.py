"""The sqlglot dialects the engine works in, and their conventions."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from sqlglot.dialects.dialect import Dialect

DEFAULT_SCHEMAS: Mapping[str, str] = {"postgres": "public", "duckdb": "main"}
"""The schema an unqualified table name lives in, for dialects that have a conventional one."""


@functools.cache
def dialect_of(name: str) -> Dialect:
    """The sqlglot dialect called ``name``, built once (``Dialect.get_or_raise`` builds one per call).

    Raises:
        ValueError: no such dialect.
    """
    return Dialect.get_or_raise(name)
