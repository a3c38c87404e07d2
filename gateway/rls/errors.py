"""Errors of the row-level-security engine.

Every refusal carries a short snake_case ``code`` (stable, for clients and logs) and a human ``message``
naming the offending part. ``RlsError`` is the one thing to catch for "refuse this request".
"""

from __future__ import annotations

from sqlglot.errors import ParseError, SqlglotError


class RlsError(Exception):
    """Root of every row-level-security refusal."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r})"

    def __reduce__(self) -> tuple[type[RlsError], tuple[str, str]]:
        # Pickled as its code and message (a refusal comes back from a rewrite worker process).
        return type(self), (self.code, self.message)


class ClauseError(RlsError):
    """A row-level filter clause or typed rule is invalid (found at mint time)."""


class ResolutionError(RlsError):
    """The filters of a token cannot be resolved, e.g. a template names a missing user attribute."""


class RewriteRefused(RlsError):
    """The rewriter refuses a query it cannot prove safe."""


class QueryTooCostly(RewriteRefused):
    """The query is over a bound on what analysing it may cost (``bounds.QueryBounds``)."""


def describe(error: SqlglotError) -> str:
    """A one-line, plain-text description of a sqlglot error (no terminal colour codes, no SQL echo)."""
    if isinstance(error, ParseError) and error.errors:
        first = error.errors[0]
        return f"{first.get('description')} at line {first.get('line')}, column {first.get('col')}"
    return str(error).splitlines()[0] if str(error) else type(error).__name__
