"""ClickHouse over its HTTP interface, through one shared aiohttp session per connector.

Each query is sent with a `query_id`, `readonly=1`, `max_execution_time`, `max_memory_usage`,
`max_result_rows` and `max_result_bytes` (overflow mode `break`), and read as `FORMAT JSONCompact`,
parsed line by line as it streams in: one row per line, each counted (`ResultBytes`), and the
response is dropped once `row_limit + 1` rows have arrived. The server stops the query at
`max_execution_time`; if the answer still has not come a grace period later, the caller is
cancelled, or the rows passed the byte bound, the connector sends `KILL QUERY` for its `query_id`.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp

from gateway.warehouse.connector import (
    BaseConnector,
    Column,
    ConnectorOptions,
    JSONValue,
    Result,
    ResultBytes,
)
from gateway.warehouse.errors import (
    QueryFailed,
    ResultTooLarge,
    WarehouseError,
    WarehouseTimeout,
    WarehouseUnavailable,
)

MAX_ERROR_BYTES: Final = 64 * 1024
# Memory of one query on the server (ClickHouse's default is 10 GB): a guest's query fails with
# "out of memory" long before it can take the server from the other tenants' queries.
MAX_MEMORY_USAGE: Final = 1_000_000_000
# ClickHouse counts a result's bytes in memory, at most about 4.5 times its JSON for the types here
# (a Nullable(UInt64) 0 is 9 bytes against `0,`), and in `break` mode it still sends the block that
# crossed its bound: 8 times the connector's own bound stops the server early without ever cutting
# short an answer the connector would have let through.
SERVER_RESULT_BYTES_FACTOR: Final = 8
# The body formats a row with spaces and escapes `/` as `\/`: a line is at most about twice its
# compact JSON, so a longer line cannot fit the bound and is not buffered further.
LINE_BYTES_FACTOR: Final = 2
_SERVER_KEEPALIVE: Final = 2.0  # ClickHouse closes idle keep-alive connections after 3 s by default
_CODE: Final = re.compile(rb"Code: (\d+)")
_TIMEOUT_CODES: Final = frozenset({159, 394})  # TIMEOUT_EXCEEDED, QUERY_WAS_CANCELLED
_CREDENTIAL_CODES: Final = frozenset({192, 193, 194, 195, 516})
_KINDS: Final[dict[int, str]] = {
    36: "bad arguments",
    43: "illegal type of argument",
    46: "unknown function",
    47: "unknown identifier",
    48: "not implemented",
    53: "type mismatch",
    60: "unknown table",
    62: "syntax error",
    81: "unknown database",
    158: "too many rows",
    164: "operation not permitted on a read-only warehouse",
    179: "duplicate alias",
    184: "aggregate function inside another aggregate function",
    215: "column is not under an aggregate function and not in GROUP BY",
    241: "the warehouse ran out of memory",
    386: "no common type",
}
_DATETIME: Final = re.compile(r"^(?:Nullable\()?DateTime(?:64)?\b")


class ClickHouseConnector(BaseConnector):
    dialect = "clickhouse"

    def __init__(
        self,
        endpoint: str,
        *,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        options: ConnectorOptions | None = None,
    ) -> None:
        super().__init__(options)
        self.endpoint = endpoint.rstrip("/") + "/"
        self.database = database
        self._headers = {"User-Agent": self.options.application_name}
        if user:
            self._headers["Authorization"] = aiohttp.encode_basic_auth(user, password or "")
        self._session: aiohttp.ClientSession | None = None
        self._kills: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<ClickHouseConnector {self.endpoint} {self._state.name.lower()}>"

    @classmethod
    def from_url(cls, url: str, *, options: ConnectorOptions | None = None) -> ClickHouseConnector:
        """`clickhouse+http://user:password@host:8123/database` or `clickhouse+https://...` (port 8443)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise ValueError("not a valid ClickHouse URL") from None
        scheme = parts.scheme.lower()
        if scheme not in ("clickhouse+http", "clickhouse+https") or not parts.hostname:
            raise ValueError("a ClickHouse URL looks like clickhouse+http://user@host:8123/database")
        if parse_qsl(parts.query):
            raise ValueError("ClickHouse URLs take no query parameters")
        protocol = scheme.removeprefix("clickhouse+")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        port = port or (8443 if protocol == "https" else 8123)
        database = unquote(parts.path.strip("/")) or None
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(
            f"{protocol}://{host}:{port}/", user=user, password=password, database=database, options=options
        )

    async def _open(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.options.pool_max_size, keepalive_timeout=_SERVER_KEEPALIVE
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None,  # per request, below
                connect=self.options.connect_timeout,  # includes waiting for a free socket
                sock_connect=self.options.connect_timeout,
            ),
            headers=self._headers,
        )

    async def _close(self) -> None:
        if self._kills:
            await asyncio.wait(self._kills, timeout=self.options.cancel_grace)
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def _execute(self, sql: str, row_limit: int, seconds: float, max_bytes: int) -> Result:
        query_id = uuid.uuid4().hex
        params = {"database": self.database} if self.database else {}
        params |= {
            "query_id": query_id,
            "max_execution_time": str(max(1, math.ceil(seconds))),
            "timeout_overflow_mode": "throw",
            "max_memory_usage": str(MAX_MEMORY_USAGE),
            "max_result_rows": str(row_limit + 1),
            "max_result_bytes": str(SERVER_RESULT_BYTES_FACTOR * max_bytes),
            "result_overflow_mode": "break",
            "output_format_json_quote_64bit_integers": "0",
            "output_format_json_quote_denormals": "0",
            "readonly": "1",  # last: settings after it would be refused
        }
        body = sql.strip().rstrip(";").rstrip() + "\nFORMAT JSONCompact"
        try:
            async with asyncio.timeout(seconds + self.options.cancel_grace):
                return await self._post(params, body.encode(), row_limit, max_bytes)
        except TimeoutError:
            await self._kill(query_id)
            raise WarehouseTimeout(f"the query ran longer than {seconds:g} s and was cancelled") from None
        except (asyncio.CancelledError, ResultTooLarge):
            self._kill_soon(query_id)
            raise

    def _kill_soon(self, query_id: str) -> None:
        """`KILL QUERY` in the background: the caller need not wait for the server's confirmation."""
        task = asyncio.get_running_loop().create_task(self._kill(query_id))
        self._kills.add(task)
        task.add_done_callback(self._kills.discard)

    async def _post(self, params: dict[str, str], body: bytes, row_limit: int, max_bytes: int) -> Result:
        assert self._session is not None
        try:
            async with self._session.post(self.endpoint, params=params, data=body) as response:
                if response.status != 200:
                    text = await response.content.read(MAX_ERROR_BYTES)
                    raise _error(text, status=response.status)
                try:
                    result = await _read_json_compact(response.content, row_limit, max_bytes)
                except ResultTooLarge:
                    response.close()
                    raise
                if result.truncated:
                    response.close()  # the rest is never read: drop the socket, do not reuse it
                return result
        except WarehouseError:
            raise
        except (
            aiohttp.ClientConnectorError,
            aiohttp.ServerDisconnectedError,
            aiohttp.ClientOSError,
        ) as error:
            raise WarehouseUnavailable("cannot connect to the warehouse", code=type(error).__name__) from None
        except aiohttp.ClientError as error:
            raise WarehouseUnavailable("the warehouse connection failed", code=type(error).__name__) from None

    async def _kill(self, query_id: str) -> None:
        """Best effort: cancel `query_id` at the server (a UUID in hex, safe to put in a literal)."""
        assert re.fullmatch(r"[0-9a-f]{32}", query_id)
        session = self._session
        if session is None:
            return
        try:
            async with asyncio.timeout(self.options.cancel_grace):
                async with session.post(
                    self.endpoint, data=f"KILL QUERY WHERE query_id = '{query_id}' SYNC".encode()
                ) as response:
                    await response.read()
        except (TimeoutError, aiohttp.ClientError, OSError):
            pass


async def _lines(content: aiohttp.StreamReader, max_bytes: int) -> AsyncIterator[bytes]:
    longest = LINE_BYTES_FACTOR * max_bytes + MAX_ERROR_BYTES
    buffer = bytearray()
    async for chunk in content.iter_any():
        buffer += chunk
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            yield bytes(buffer[start:end])
            start = end + 1
        del buffer[:start]
        if len(buffer) > longest:
            raise ResultTooLarge(max_bytes)
    if buffer:
        yield bytes(buffer)


async def _read_json_compact(content: aiohttp.StreamReader, row_limit: int, max_bytes: int) -> Result:
    """Parse ClickHouse's JSONCompact output as it streams: header, one row per line, trailer.

    An exception raised after the first rows were sent arrives as text inside the body.
    """
    header: list[bytes] = []
    columns: list[Column] = []
    rows: list[list[JSONValue]] = []
    datetimes: list[int] = []
    state = "header"
    error: list[bytes] = []
    counted = ResultBytes(max_bytes=max_bytes)
    async for line in _lines(content, max_bytes):
        stripped = line.strip()
        if error or stripped.startswith(b"Code: "):
            error.append(line)
            if sum(map(len, error)) > MAX_ERROR_BYTES:
                break
        elif state == "header":
            if stripped == b'"data":':
                try:
                    meta = json.loads(b"\n".join(header) + b'"data": []}')["meta"]
                    columns = [Column(str(c["name"]), str(c["type"])) for c in meta]
                except (ValueError, KeyError, TypeError):
                    raise QueryFailed("the warehouse sent an unexpected response") from None
                datetimes = [i for i, c in enumerate(columns) if _DATETIME.match(c.type)]
                state = "open"
            else:
                header.append(line)
        elif state == "open" and stripped == b"[":
            state = "rows"
        elif state == "rows" and stripped.startswith(b"["):
            try:
                row: list[Any] = json.loads(stripped.removesuffix(b","))
            except ValueError:
                # An exception after a block was sent is glued to the last row: `[1, 2]Code: 395, ...`
                at = stripped.find(b"Code: ")
                if at < 0:
                    raise QueryFailed("the warehouse sent an unexpected response") from None
                error.append(stripped[at:])
                continue
            for index in datetimes:
                if isinstance(row[index], str):
                    row[index] = row[index].replace(" ", "T", 1)
            if len(rows) == row_limit:
                return Result(columns, rows, True, counted.rows_json)
            counted.add(row)
            rows.append(row)
        elif state == "rows" and stripped.startswith(b"]"):
            state = "trailer"
        elif state == "trailer" or not stripped:
            continue
        else:
            raise QueryFailed("the warehouse sent an unexpected response")
    if error:
        raise _error(b"\n".join(error), status=200)
    if state != "trailer":
        raise QueryFailed("the warehouse sent an incomplete response")
    return Result(columns, rows, False, counted.rows_json)


def _error(text: bytes, *, status: int) -> WarehouseError:
    found = _CODE.search(text)
    detail = text.decode("utf-8", "replace")[:MAX_ERROR_BYTES]
    if found is None:
        return WarehouseUnavailable(f"the warehouse answered HTTP {status}", code=str(status), detail=detail)
    code = int(found.group(1))
    if code in _TIMEOUT_CODES:
        return WarehouseTimeout(
            "the query ran past its timeout and was cancelled", code=str(code), detail=detail
        )
    if code in _CREDENTIAL_CODES:
        return WarehouseUnavailable("the warehouse refused the credentials", code=str(code), detail=detail)
    kind = _KINDS.get(code, f"error code {code}")
    return QueryFailed(f"the warehouse refused the query: {kind}", code=str(code), detail=detail)
