"""The warehouse connectors' exception tree.

`str(error)` is safe to show to the embedding user: it never holds the SQL text, a password, a
connection URL or a stack. The warehouse's own message, which may quote the query, is kept apart in
`detail`, for operators' logs only.

    WarehouseError                 -> 502
    ├── WarehouseTimeout           -> 504 (the query was cancelled at the warehouse)
    ├── WarehouseUnavailable       -> 503 (cannot connect or authenticate)
    ├── ResultTooLarge             -> 422 (the answer passed its byte bound; the read was stopped)
    └── QueryFailed                -> 502 (the warehouse refused the query)
"""

from __future__ import annotations


class WarehouseError(Exception):
    """Root of every connector error; catch this one to map the family to one response."""

    def __init__(self, message: str, *, code: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code  # the engine's error code or SQLSTATE, when it gave one
        self.detail = detail  # the warehouse's own words: may quote the SQL; log, never show

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, code={self.code!r})"


class WarehouseTimeout(WarehouseError):
    """The query ran past its timeout and was cancelled at the warehouse."""


class WarehouseUnavailable(WarehouseError):
    """The warehouse cannot be reached, opened or authenticated against."""


class ResultTooLarge(WarehouseError):
    """The rows read so far passed `max_bytes`: the read was stopped and the query cancelled."""

    def __init__(self, max_bytes: int, *, code: str | None = None, detail: str | None = None) -> None:
        super().__init__(f"the answer is larger than {max_bytes} bytes", code=code, detail=detail)
        self.max_bytes = max_bytes


class QueryFailed(WarehouseError):
    """The warehouse refused or failed the query (syntax, unknown column, type error, ...)."""
