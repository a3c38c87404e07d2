"""Choosing a connector by URL scheme, and the one owner of every open connector.

`connect(url)` makes an unopened connector (no I/O). `Connectors` keeps one per URL for the life of
the process, and closes them all when it closes: the application's lifespan owns it.

    async with Connectors(ConnectorOptions(pool_max_size=4)) as connectors:
        result = await connectors.get(url).execute(sql, row_limit=1000, timeout=30)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Final, Self
from urllib.parse import urlsplit

from gateway.warehouse.clickhouse import ClickHouseConnector
from gateway.warehouse.connector import BaseConnector, ConnectorOptions, ConnectorState
from gateway.warehouse.duckdb_connector import DuckDBConnector
from gateway.warehouse.postgres import PostgresConnector

_FACTORIES: Final[dict[str, Callable[..., BaseConnector]]] = {
    "duckdb": DuckDBConnector.from_url,
    "postgresql": PostgresConnector.from_url,
    "postgres": PostgresConnector.from_url,
    "clickhouse+http": ClickHouseConnector.from_url,
    "clickhouse+https": ClickHouseConnector.from_url,
}
SCHEMES: Final = frozenset(_FACTORIES)


def default_schema(url: str, dialect: str) -> str | None:
    """The schema unqualified table names resolve to, when the URL chooses it (ClickHouse's database);
    None leaves it to the dialect's convention (public, main)."""
    if dialect != "clickhouse":
        return None
    return urlsplit(url).path.strip("/") or "default"


class UnsupportedWarehouse(ValueError):
    """No connector for this URL's scheme (the registry accepts some engines we cannot run yet)."""


def connect(url: str, *, options: ConnectorOptions | None = None) -> BaseConnector:
    """An unopened connector for `url`, chosen by its scheme. Errors never repeat the URL."""
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        raise UnsupportedWarehouse("not a valid warehouse URL") from None
    factory = _FACTORIES.get(scheme)
    if factory is None:
        known = ", ".join(sorted(SCHEMES))
        raise UnsupportedWarehouse(f"no connector for scheme {scheme!r}; supported: {known}")
    return factory(url, options=options)


class Connectors:
    """One connector per URL, made on first use; `aclose()` closes them all and the registry for good.

    Keys are the full URLs, passwords included (a changed password is another connection); they are
    never logged or shown.
    """

    def __init__(
        self,
        options: ConnectorOptions | None = None,
        *,
        factory: Callable[..., BaseConnector] = connect,
    ) -> None:
        self.options = options or ConnectorOptions()
        self._factory = factory
        self._open: dict[str, BaseConnector] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._open)

    def __repr__(self) -> str:
        return f"<Connectors open={len(self._open)}{' closed' if self._closed else ''}>"

    def get(self, url: str) -> BaseConnector:
        """The connector for `url`, made (unopened) on first use; it opens on its first query."""
        if self._closed:
            raise RuntimeError("the connector registry is closed")
        connector = self._open.get(url)
        if connector is None or connector.state is ConnectorState.CLOSED:  # closed behind our back
            connector = self._open[url] = self._factory(url, options=self.options)
        return connector

    async def discard(self, url: str) -> None:
        """Close and forget the connector for `url` (its warehouse was changed or deleted)."""
        connector = self._open.pop(url, None)
        if connector is not None:
            await connector.aclose()

    async def aclose(self) -> None:
        self._closed = True
        connectors, self._open = list(self._open.values()), {}
        await asyncio.gather(*(c.aclose() for c in connectors), return_exceptions=True)

    async def __aenter__(self) -> Self:
        if self._closed:
            raise RuntimeError("the connector registry is closed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
