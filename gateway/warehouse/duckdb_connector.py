"""DuckDB, off the event loop.

One database handle per connector, opened read-only when it is a file (several replicas or processes
share it) with file system access, extension downloads and configuration changes disabled. Each query
runs on a worker thread with its own cursor (DuckDB connections are not thread-safe; a cursor is a
connection of its own to the same database). DuckDB has no statement timeout, so a timer interrupts
the cursor when the timeout passes, and the cursor only goes back to the pool once its thread is done.
Rows are fetched in small batches and counted as they come (`ResultBytes`); past the byte bound the
read stops and the rest of the result is never made.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import duckdb

from gateway.warehouse.connector import (
    BaseConnector,
    Column,
    ConnectorOptions,
    ConnectorState,
    JSONValue,
    Result,
    ResultBytes,
)
from gateway.warehouse.errors import QueryFailed, ResultTooLarge, WarehouseTimeout, WarehouseUnavailable

MEMORY: Final = ":memory:"
# Safe to show: which kind of error, never DuckDB's message (it quotes the SQL and suggests table names).
_KINDS: Final[dict[str, str]] = {
    "ParserException": "syntax error",
    "BinderException": "unknown column or invalid expression",
    "CatalogException": "unknown table, schema or function",
    "ConversionException": "value conversion error",
    "OutOfRangeException": "value out of range",
    "DivisionByZeroException": "division by zero",
    "PermissionException": "operation not permitted",
    "OutOfMemoryException": "the warehouse ran out of memory",
    "InvalidInputException": "invalid input",
    "NotImplementedException": "operation not supported",
    "TransactionException": "operation not permitted on a read-only warehouse",
}
# DuckDB runs inside the gateway's process: its default, 80% of the machine's memory, would let one
# query starve every other tenant. 1 GB is shared by every cursor of one database: room for the
# aggregations an in-process warehouse is meant for, far from what the process may use.
DUCKDB_MEMORY_LIMIT: Final = "1GB"
# One thread per query (each cursor's query runs on its own worker thread): a query cannot take
# every core from the event loop and from the other tenants' queries.
DUCKDB_THREADS: Final = 1
QUERY_THREAD_NICENESS: Final = 5
"""How much lower a query thread's scheduling priority is than the event loop's (``nice``: 0 to 19)."""
_LOCKED_DOWN: Final[dict[str, Any]] = {
    "enable_external_access": False,  # no read_csv('/etc/passwd'), ATTACH, COPY TO
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "memory_limit": DUCKDB_MEMORY_LIMIT,
    "threads": DUCKDB_THREADS,
    "lock_configuration": True,  # a query cannot SET any of this back
}


class DuckDBConnector(BaseConnector):
    dialect = "duckdb"

    def __init__(
        self,
        path: str | Path = MEMORY,
        *,
        read_only: bool | None = None,
        options: ConnectorOptions | None = None,
    ) -> None:
        super().__init__(options)
        self.path = str(path)
        memory = self.path in (MEMORY, "")
        self.path = MEMORY if memory else self.path
        # A file is opened read-only unless asked otherwise; an in-memory database cannot be.
        self.read_only = (not memory) if read_only is None else (read_only and not memory)
        self._database: duckdb.DuckDBPyConnection | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._idle: asyncio.Queue[duckdb.DuckDBPyConnection] = asyncio.Queue()
        self._cursors = 0
        self._running: set[_Call] = set()

    @classmethod
    def from_url(cls, url: str, *, options: ConnectorOptions | None = None) -> DuckDBConnector:
        """`duckdb:///abs/path.duckdb`, `duckdb:///:memory:`; `?read_only=false` to open a file writable."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "duckdb" or parts.netloc:
            raise ValueError("a DuckDB URL looks like duckdb:///path/to/file.duckdb")
        path = unquote(parts.path)
        if path in ("", "/", "/" + MEMORY):
            path = MEMORY
        read_only: bool | None = None
        for name, value in parse_qsl(parts.query):
            if name != "read_only" or value.lower() not in ("true", "false", "1", "0"):
                raise ValueError("the only DuckDB URL option is read_only=true|false")
            read_only = value.lower() in ("true", "1")
        return cls(path, read_only=read_only, options=options)

    async def _open(self) -> None:
        executor = ThreadPoolExecutor(
            self.options.pool_max_size, thread_name_prefix="duckdb", initializer=_behind_the_event_loop
        )
        try:
            self._database = await asyncio.get_running_loop().run_in_executor(executor, self._connect)
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        self._executor = executor

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(self.path, read_only=self.read_only, config=dict(_LOCKED_DOWN))
        except duckdb.Error as error:
            raise WarehouseUnavailable(
                "cannot open the DuckDB database", code=type(error).__name__, detail=str(error)
            ) from None

    async def _close(self) -> None:
        for call in list(self._running):
            call.interrupt(timed_out=False)
        executor, database = self._executor, self._database
        self._executor = self._database = None
        cursors = []
        while not self._idle.empty():
            cursors.append(self._idle.get_nowait())
        if executor is None or database is None:
            return

        def shut_down() -> None:
            # Interrupted queries finish their threads first; then the cursors and the database close.
            executor.shutdown(wait=True, cancel_futures=True)
            for cursor in cursors:
                cursor.close()
            database.close()

        await asyncio.get_running_loop().run_in_executor(None, shut_down)

    async def _acquire(self, seconds: float) -> duckdb.DuckDBPyConnection:
        assert self._database is not None
        try:
            return self._idle.get_nowait()
        except asyncio.QueueEmpty:
            pass
        if self._cursors < self.options.pool_max_size:
            self._cursors += 1
            return self._database.cursor()
        try:
            async with asyncio.timeout(seconds):
                return await self._idle.get()
        except TimeoutError:
            raise WarehouseTimeout("timed out waiting for a free DuckDB connection") from None

    def _release(self, cursor: duckdb.DuckDBPyConnection, call: _Call, *, reusable: bool) -> None:
        self._running.discard(call)
        if self._state is not ConnectorState.OPENED or self._database is None:
            cursor.close()
        elif reusable:
            self._idle.put_nowait(cursor)
        else:
            cursor.close()
            self._idle.put_nowait(self._database.cursor())

    async def _execute(self, sql: str, row_limit: int, seconds: float, max_bytes: int) -> Result:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        cursor = await self._acquire(seconds)
        call = _Call(cursor)
        self._running.add(call)
        assert self._executor is not None
        future = loop.run_in_executor(self._executor, call.run, sql, row_limit, max_bytes)

        def finished(done: asyncio.Future[Result]) -> None:
            # Retrieved here (the caller may have gone). A cursor stopped past the byte bound still
            # holds the rows made ahead of the read: it is closed and a fresh one takes its place.
            failure = None if done.cancelled() else done.exception()
            self._release(cursor, call, reusable=not isinstance(failure, ResultTooLarge))

        future.add_done_callback(finished)
        timer = loop.call_at(deadline, call.interrupt, True)
        try:
            # Shielded: cancelling the caller must not hand the cursor back while its thread still runs.
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            call.interrupt(timed_out=False)
            raise
        except duckdb.InterruptException:
            if call.timed_out:
                raise WarehouseTimeout(f"the query ran longer than {seconds:g} s and was cancelled") from None
            raise QueryFailed("the query was interrupted") from None
        except duckdb.Error as error:
            kind = _KINDS.get(type(error).__name__, "query failed")
            raise QueryFailed(
                f"the warehouse refused the query: {kind}", code=type(error).__name__, detail=str(error)
            ) from None
        finally:
            timer.cancel()


class _Call:
    """One query on one cursor; `interrupt` only reaches the cursor while this query runs on it."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.cursor = cursor
        self.timed_out = False
        self._lock = threading.Lock()
        self._running = False
        self._stopped = False

    def interrupt(self, timed_out: bool) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            self.timed_out = timed_out
            if self._running:
                self.cursor.interrupt()

    def run(self, sql: str, row_limit: int, max_bytes: int) -> Result:
        with self._lock:
            if self._stopped:  # timed out or cancelled while queued
                raise duckdb.InterruptException("interrupted before it started")
            self._running = True
        try:
            self.cursor.execute(sql)
            description = self.cursor.description or []
            counted = ResultBytes(max_bytes=max_bytes)
            rows = self._fetch(row_limit, counted) if description else []
            truncated = bool(description) and bool(self.cursor.fetchmany(1))
        finally:
            with self._lock:
                self._running = False
                self._stopped = True
        columns = [Column(str(name), str(type_code)) for name, type_code, *_ in description]
        return Result(columns, rows, truncated, counted.rows_json)

    def _fetch(self, row_limit: int, counted: ResultBytes) -> list[list[JSONValue]]:
        rows: list[list[JSONValue]] = []
        while len(rows) < row_limit:
            records = self.cursor.fetchmany(counted.batch(row_limit - len(rows)))
            if not records:
                break
            rows += counted.take(records)
        return rows


def _behind_the_event_loop() -> None:
    """Run this query thread below the event loop's scheduling priority (Linux schedules threads one by
    one): DuckDB computes in the gateway's own process, and a tenant's heavy queries must not take the
    cores that answer every tenant's cached requests (``bench/isolation.py``, slow queries)."""
    with contextlib.suppress(OSError):  # not every system lets a thread lower its own priority alone
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), QUERY_THREAD_NICENESS)
