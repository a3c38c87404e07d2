"""Warehouse connectors: one per engine behind a small protocol, chosen by the warehouse URL.

async with Connectors() as connectors:
    result = await connectors.get("duckdb:///data/demo.duckdb").execute(
        "SELECT region, sum(amount) FROM main.orders GROUP BY 1",
        row_limit=1000,
        timeout=30,
        max_bytes=10_000_000,
    )
"""

from gateway.warehouse.clickhouse import ClickHouseConnector
from gateway.warehouse.connector import (
    DEFAULT_MAX_RESULT_BYTES,
    MAX_RESULT_BYTES,
    BaseConnector,
    Column,
    Connector,
    ConnectorOptions,
    ConnectorState,
    JSONValue,
    Result,
    ResultBytes,
    json_safe,
    table_sql,
)
from gateway.warehouse.duckdb_connector import DuckDBConnector
from gateway.warehouse.errors import (
    QueryFailed,
    ResultTooLarge,
    WarehouseError,
    WarehouseTimeout,
    WarehouseUnavailable,
)
from gateway.warehouse.postgres import PostgresConnector
from gateway.warehouse.registry import SCHEMES, Connectors, UnsupportedWarehouse, connect, default_schema

__all__ = [
    "DEFAULT_MAX_RESULT_BYTES",
    "MAX_RESULT_BYTES",
    "SCHEMES",
    "BaseConnector",
    "ClickHouseConnector",
    "Column",
    "Connector",
    "ConnectorOptions",
    "ConnectorState",
    "Connectors",
    "DuckDBConnector",
    "JSONValue",
    "PostgresConnector",
    "QueryFailed",
    "Result",
    "ResultBytes",
    "ResultTooLarge",
    "UnsupportedWarehouse",
    "WarehouseError",
    "WarehouseTimeout",
    "WarehouseUnavailable",
    "connect",
    "default_schema",
    "json_safe",
    "table_sql",
]
