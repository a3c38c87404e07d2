"""The small protocol every warehouse connector speaks, and what the connectors share.

A connector is an async client in the httpx style: created unopened (no I/O), opened on first use or
by `async with`, closed once by `aclose()`, never reopened. Every call carries a finite timeout and
a finite bound on the size of its answer.

The size of an answer is the length in bytes of its rows as compact JSON (UTF-8, `,` between
values, no spaces): what the gateway sends for them, whatever the engine. `ResultBytes` counts it
row by row while the connector reads, and raises `ResultTooLarge` as soon as the bound is passed.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import enum
import json
import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from types import TracebackType
from typing import ClassVar, Final, Protocol, Self, TypeAlias, runtime_checkable

import sqlglot
from sqlglot import exp

from gateway.warehouse.errors import QueryFailed, ResultTooLarge, WarehouseTimeout, WarehouseUnavailable

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "MAX_RESULT_BYTES",
    "Column",
    "Connector",
    "ConnectorOptions",
    "ConnectorState",
    "JSONValue",
    "Result",
    "ResultBytes",
    "json_safe",
    "table_sql",
]

JSONValue: TypeAlias = "str | int | float | bool | list[JSONValue] | dict[str, JSONValue] | None"

MAX_TIMEOUT: Final = 3600.0
MAX_ROW_LIMIT: Final = 10_000_000
DEFAULT_MAX_RESULT_BYTES: Final = 10_000_000
MAX_RESULT_BYTES: Final = 1_000_000_000
# Rows fetched at once at most; fewer while the rows seen so far say the next ones may not fit.
MAX_BATCH_ROWS: Final = 1024
MAX_BATCH_BYTES: Final = 256 * 1024
"""About the most a batch of rows may weigh, judged by the largest row so far."""


@dataclass(frozen=True, slots=True)
class Column:
    """A column of a warehouse table, as the engine names and types it."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class Result:
    """Rows as JSON-ready lists, in the order of `columns`.

    `truncated` says the query had more rows than the `row_limit` it was run with.
    """

    columns: list[Column]
    rows: list[list[JSONValue]]
    truncated: bool
    rows_json: str | None = field(default=None, compare=False)
    """The rows as compact JSON, when the connector made it while counting them (`ResultBytes`)."""

    @property
    def rowcount(self) -> int:
        return len(self.rows)

    def rows_as_json(self) -> str:
        """The rows as compact JSON text: the connector's own when it has it, made here otherwise."""
        if self.rows_json is not None:
            return self.rows_json
        return json.dumps(self.rows, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class ConnectorOptions:
    """Finite defaults for everything that waits. Per-query timeouts are given to `execute`."""

    connect_timeout: float = 5.0  # opening a connection (TCP + handshake + authentication)
    pool_min_size: int = 1  # PostgreSQL connections kept open
    pool_max_size: int = 8  # PostgreSQL connections / DuckDB cursors / ClickHouse sockets at most
    cancel_grace: float = 2.0  # how long past a timeout to wait for the warehouse to confirm the cancel
    introspection_timeout: float = 10.0  # `columns_of`
    application_name: str = "embed-gateway"

    def __post_init__(self) -> None:
        if not 0 < self.connect_timeout <= MAX_TIMEOUT or not 0 < self.introspection_timeout <= MAX_TIMEOUT:
            raise ValueError("timeouts must be positive and finite")
        if not 0 <= self.cancel_grace <= MAX_TIMEOUT:
            raise ValueError("cancel_grace must be between 0 and an hour")
        if not 0 <= self.pool_min_size <= self.pool_max_size or self.pool_max_size < 1:
            raise ValueError("need 0 <= pool_min_size <= pool_max_size and pool_max_size >= 1")


@runtime_checkable
class Connector(Protocol):
    """What the data plane calls. Implementations: DuckDB, PostgreSQL, ClickHouse."""

    @property
    def dialect(self) -> str:
        """The sqlglot dialect the warehouse speaks: `duckdb`, `postgres`, `clickhouse`."""
        ...

    async def execute(
        self,
        sql: str,
        *,
        row_limit: int,
        timeout: float,  # noqa: ASYNC109
        max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    ) -> Result:
        """Run one read-only query; at most `row_limit` rows come back, `truncated` if there were more.

        Raises `WarehouseTimeout` (cancelled at the warehouse after `timeout` seconds),
        `ResultTooLarge` (the rows passed `max_bytes`; the read was stopped and the query cancelled),
        `WarehouseUnavailable`, `QueryFailed`.
        """
        ...

    async def columns_of(self, table_ref: str, *, timeout: float | None = None) -> list[Column]:  # noqa: ASYNC109
        """The columns and types of a table (`table`, `schema.table` or `catalog.schema.table`)."""
        ...

    async def ping(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Raise `WarehouseUnavailable` unless the warehouse answers within the timeout."""
        ...

    async def aclose(self) -> None:
        """Release every connection, socket and thread; idempotent."""
        ...


class ConnectorState(enum.Enum):
    UNOPENED = 1
    OPENED = 2
    CLOSED = 3


class BaseConnector(ABC):
    """Lifecycle shared by the connectors: lazy open under a lock, `async with`, closed for good."""

    dialect: ClassVar[str]

    def __init__(self, options: ConnectorOptions | None = None) -> None:
        self.options = options or ConnectorOptions()
        self._state = ConnectorState.UNOPENED
        self._open_lock = asyncio.Lock()

    @property
    def state(self) -> ConnectorState:
        return self._state

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Connect now rather than on first use. A failed open may be retried."""
        if self._state is ConnectorState.OPENED:
            return
        if self._state is ConnectorState.CLOSED:
            raise RuntimeError("the connector is closed; create a new one")
        async with self._open_lock:
            if self._state is ConnectorState.UNOPENED:
                try:
                    async with asyncio.timeout(self.options.connect_timeout + self.options.cancel_grace):
                        await self._open()
                except TimeoutError:
                    raise WarehouseUnavailable("timed out connecting to the warehouse") from None
                self._state = ConnectorState.OPENED
            elif self._state is ConnectorState.CLOSED:
                raise RuntimeError("the connector is closed; create a new one")

    async def aclose(self) -> None:
        if self._state is ConnectorState.CLOSED:
            return
        async with self._open_lock:
            opened = self._state is ConnectorState.OPENED
            self._state = ConnectorState.CLOSED
            if opened:
                await self._close()

    async def execute(
        self,
        sql: str,
        *,
        row_limit: int,
        timeout: float,  # noqa: ASYNC109
        max_bytes: int = DEFAULT_MAX_RESULT_BYTES,
    ) -> Result:
        _check_limits(row_limit, timeout, max_bytes)
        await self.open()
        return await self._execute(sql, row_limit, timeout, max_bytes)

    async def columns_of(self, table_ref: str, *, timeout: float | None = None) -> list[Column]:  # noqa: ASYNC109
        query = f"SELECT * FROM {table_sql(table_ref, self.dialect)} LIMIT 0"  # noqa: S608 (parsed, quoted)
        result = await self.execute(query, row_limit=1, timeout=timeout or self.options.introspection_timeout)
        return result.columns

    async def ping(self, *, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self.open()
        limit = timeout or self.options.connect_timeout
        try:
            async with asyncio.timeout(limit):
                await self._ping(limit)
        except TimeoutError:
            raise WarehouseUnavailable("the warehouse did not answer in time") from None
        except WarehouseTimeout:
            raise WarehouseUnavailable("the warehouse did not answer in time") from None

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _execute(self, sql: str, row_limit: int, seconds: float, max_bytes: int) -> Result: ...

    async def _ping(self, seconds: float) -> None:
        await self._execute("SELECT 1", 1, seconds, DEFAULT_MAX_RESULT_BYTES)


def _check_limits(row_limit: int, timeout: float, max_bytes: int) -> None:
    if isinstance(row_limit, bool) or not isinstance(row_limit, int) or not 0 <= row_limit <= MAX_ROW_LIMIT:
        raise ValueError(f"row_limit must be an integer between 0 and {MAX_ROW_LIMIT}")
    if not isinstance(timeout, int | float) or not 0 < timeout <= MAX_TIMEOUT or math.isnan(timeout):
        raise ValueError(f"timeout must be a number of seconds in (0, {MAX_TIMEOUT}]")
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or not 0 < max_bytes <= MAX_RESULT_BYTES:
        raise ValueError(f"max_bytes must be an integer between 1 and {MAX_RESULT_BYTES}")


class ResultBytes:
    """The bytes of an answer's rows as they are read, against `max_bytes`.

    >>> counted = ResultBytes(max_bytes=20)
    >>> counted.add([1, "ab"]), counted.used
    (None, 8)
    >>> counted.add(["a" * 10])
    Traceback (most recent call last):
    ...
    gateway.warehouse.errors.ResultTooLarge: the answer is larger than 20 bytes
    """

    def __init__(self, *, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.used = 0
        self._rows: list[str] = []
        self._largest = 0

    def add(self, row: list[JSONValue]) -> None:
        """Count one row (and the comma before it); raise `ResultTooLarge` once past the bound."""
        text = json.dumps(row, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        size = (len(text) if text.isascii() else len(text.encode())) + bool(self._rows)
        self.used += size
        self._rows.append(text)
        self._largest = max(self._largest, size)
        if self.used > self.max_bytes:
            raise ResultTooLarge(self.max_bytes)

    @property
    def rows_json(self) -> str:
        """The rows counted so far as one JSON array: the answer is then written without encoding its
        rows a second time, in one call that would hold the interpreter for as long as the answer is big
        (``bench/isolation.py``, huge answers)."""
        return f"[{','.join(self._rows)}]"

    def take(self, records: Iterable[Sequence[object]]) -> list[list[JSONValue]]:
        """Driver rows as JSON-ready rows (`json_safe`), each counted."""
        rows = []
        for record in records:
            row = [json_safe(value) for value in record]
            self.add(row)
            rows.append(row)
        return rows

    def batch(self, wanted: int) -> int:
        """How many rows to fetch next, of `wanted`: one at first, then as many as could still fit if
        none were larger than the largest so far (one more, to find out), doubling at most each time.

        Rows larger than all before them can still pass the bound by one batch before it is noticed.
        """
        if not self._largest:
            return min(wanted, 1)
        fits = (self.max_bytes - self.used) // self._largest + 1
        # A driver turns a whole batch into Python objects in one call that holds the interpreter lock:
        # large rows come a few at a time, so that the event loop is never kept waiting for long.
        light = max(1, MAX_BATCH_BYTES // self._largest)
        return max(1, min(wanted, fits, light, 2 * len(self._rows), MAX_BATCH_ROWS))


def table_sql(table_ref: str, dialect: str) -> str:
    """`table_ref` parsed as a table name in `dialect` and rendered back: a name, never an expression.

    >>> table_sql("main.orders", "duckdb")
    'main.orders'
    >>> table_sql("orders; DROP TABLE x", "postgres")
    '"orders; DROP TABLE x"'
    """
    try:
        table = exp.to_table(table_ref, dialect=dialect)
    except sqlglot.errors.SqlglotError:
        raise QueryFailed("not a table reference") from None
    parts = {key: value for key, value in table.args.items() if value}
    if (
        not isinstance(table, exp.Table)
        or set(parts) - {"this", "db", "catalog"}
        or not all(isinstance(part, exp.Identifier) for part in parts.values())
    ):
        raise QueryFailed("not a table reference")
    return table.sql(dialect=dialect)


def json_safe(value: object) -> JSONValue:
    """A driver value as JSON: decimals as floats, temporal values as ISO 8601 strings, NaN as null.

    >>> json_safe([Decimal("1.50"), datetime.date(2024, 1, 31), float("nan"), b"\\x00"])
    [1.5, '2024-01-31', None, 'AA==']
    """
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, datetime.date | datetime.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return str(value)
