"""PostgreSQL through an asyncpg pool.

Every query runs in a READ ONLY transaction whose local settings bound it: `statement_timeout`, so
the server cancels it when the timeout passes (the client waits a grace period longer and then
cancels it itself: asyncpg sends a cancel request when a call times out or its task is cancelled),
and `work_mem` / `temp_file_limit`, so one guest's sorts and hashes cannot take the server's memory
or disk. Rows are fetched through a cursor in small batches, `row_limit + 1` at most, and counted as
they come (`ResultBytes`): past the byte bound the transaction is rolled back, closing the cursor.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any, Final

import asyncpg

from gateway.warehouse.connector import (
    BaseConnector,
    Column,
    ConnectorOptions,
    JSONValue,
    Result,
    ResultBytes,
)
from gateway.warehouse.errors import QueryFailed, WarehouseTimeout, WarehouseUnavailable

# Per sort or hash node: PostgreSQL's own default, kept even where the server is tuned higher for
# its trusted users, so a guest's query with many such nodes stays within tens of megabytes.
WORK_MEM: Final = "4MB"
# Spilled sorts and hashes of one query: 1 GB of disk at most, rather than PostgreSQL's unlimited.
TEMP_FILE_LIMIT: Final = "1GB"
# One round trip sets every bound. `temp_file_limit` needs superuser or (PostgreSQL 15 and later) a
# granted SET privilege; the warehouse user often has neither, and then the server's setting holds.
_BOUNDS: Final = (
    "SELECT set_config('statement_timeout', $1, true), set_config('work_mem', $2, true),"
    " CASE WHEN {may_set} THEN set_config('temp_file_limit', $3, true) END"
)
_MAY_SET_TEMP_FILE_LIMIT: Final = "has_parameter_privilege('temp_file_limit', 'SET')"
_MAY_SET_TEMP_FILE_LIMIT_BEFORE_15: Final = "current_setting('is_superuser') = 'on'"

# Raised while connecting or by a connection that dropped: the warehouse, not the query, is at fault.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
)


class PostgresConnector(BaseConnector):
    dialect = "postgres"

    def __init__(self, dsn: str, *, options: ConnectorOptions | None = None) -> None:
        super().__init__(options)
        self._dsn = dsn
        self._pool: asyncpg.Pool | None = None

    def __repr__(self) -> str:
        return f"<PostgresConnector {self._state.name.lower()}>"  # never the DSN: it holds the password

    @classmethod
    def from_url(cls, url: str, *, options: ConnectorOptions | None = None) -> PostgresConnector:
        """`postgresql://user:password@host:port/database` (or `postgres://`)."""
        return cls(url, options=options)

    async def _open(self) -> None:
        options = self.options
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=options.pool_min_size,
                max_size=options.pool_max_size,
                timeout=options.connect_timeout,  # per connection attempt
                command_timeout=None,  # every call below passes its own
                max_inactive_connection_lifetime=300.0,
                server_settings={
                    "application_name": options.application_name,
                    "default_transaction_read_only": "on",
                },
            )
        except ValueError:  # a malformed DSN; asyncpg's message may quote it
            raise WarehouseUnavailable("the warehouse URL is not valid") from None
        except (*_UNAVAILABLE, TimeoutError, asyncpg.PostgresError) as error:
            raise _unavailable(error) from None

    async def _close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            try:
                await asyncio.wait_for(pool.close(), self.options.cancel_grace + 1.0)
            except TimeoutError:
                pool.terminate()

    async def _execute(self, sql: str, row_limit: int, seconds: float, max_bytes: int) -> Result:
        assert self._pool is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        try:
            connection = await self._pool.acquire(timeout=min(seconds, self.options.connect_timeout))
        except TimeoutError:
            raise WarehouseUnavailable("timed out connecting to the warehouse") from None
        except (*_UNAVAILABLE, asyncpg.PostgresError) as error:
            raise _unavailable(error) from None
        try:
            return await self._run(connection, sql, row_limit, seconds, deadline, max_bytes)
        except asyncpg.QueryCanceledError:
            raise WarehouseTimeout(f"the query ran longer than {seconds:g} s and was cancelled") from None
        except TimeoutError:  # the client-side backstop: asyncpg has sent a cancel request
            raise WarehouseTimeout(f"the query ran longer than {seconds:g} s and was cancelled") from None
        except _UNAVAILABLE as error:
            raise _unavailable(error) from None
        except asyncpg.PostgresError as error:
            raise QueryFailed(
                f"the warehouse refused the query: {_kind(error)}",
                code=getattr(error, "sqlstate", None),
                detail=str(error),
            ) from None
        except asyncpg.InterfaceError as error:
            raise QueryFailed("the query could not be run", detail=str(error)) from None
        finally:
            try:
                await self._pool.release(connection, timeout=self.options.cancel_grace + 1.0)
            except Exception:
                connection.terminate()

    async def _run(
        self, connection: Any, sql: str, row_limit: int, seconds: float, deadline: float, max_bytes: int
    ) -> Result:
        loop = asyncio.get_running_loop()
        grace = self.options.cancel_grace

        def remaining() -> float:
            return max(deadline - loop.time(), 0.001) + grace

        async with connection.transaction(readonly=True):
            milliseconds = str(max(int(seconds * 1000), 1))
            await connection.execute(
                _bounds_sql(connection.get_server_version().major),
                milliseconds,
                WORK_MEM,
                TEMP_FILE_LIMIT,
                timeout=remaining(),
            )
            statement = await connection.prepare(sql, timeout=remaining())
            attributes = statement.get_attributes()
            if not attributes:
                await statement.fetch(timeout=remaining())
                return Result([], [], False)
            cursor = await statement.cursor(timeout=remaining())
            counted = ResultBytes(max_bytes=max_bytes)
            rows: list[list[JSONValue]] = []
            while len(rows) < row_limit:
                records = await cursor.fetch(counted.batch(row_limit - len(rows)), timeout=remaining())
                if not records:
                    break
                rows += counted.take(records)
            truncated = bool(await cursor.fetch(1, timeout=remaining()))
        columns = [Column(attribute.name, attribute.type.name) for attribute in attributes]
        return Result(columns, rows, truncated, counted.rows_json)


def _bounds_sql(server_major: int) -> str:
    may_set = _MAY_SET_TEMP_FILE_LIMIT if server_major >= 15 else _MAY_SET_TEMP_FILE_LIMIT_BEFORE_15
    return _BOUNDS.format(may_set=may_set)


def _kind(error: BaseException) -> str:
    """`UndefinedTableError` -> "undefined table": the error's class, never its message."""
    name = type(error).__name__.removesuffix("Error")
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()
    return words if words and words != "postgres" else "query failed"


def _unavailable(error: BaseException) -> WarehouseUnavailable:
    if isinstance(error, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError):
        message = "the warehouse refused the credentials"
    elif isinstance(error, asyncpg.InvalidCatalogNameError):
        message = "the warehouse database does not exist"
    elif isinstance(error, TimeoutError):
        message = "timed out connecting to the warehouse"
    else:
        message = "cannot connect to the warehouse"
    return WarehouseUnavailable(message, code=type(error).__name__, detail=str(error))
