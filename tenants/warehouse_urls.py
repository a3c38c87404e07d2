"""Warehouse connection URLs: which SQL dialect each scheme speaks, and keeping passwords out of them.

The registry stores a URL without its password (shown to operators as is) and the password apart,
encrypted or as the name of an environment variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

DIALECT_BY_SCHEME: Final[dict[str, str]] = {
    "duckdb": "duckdb",
    "postgresql": "postgres",
    "postgres": "postgres",
    "clickhouse+http": "clickhouse",
    "clickhouse+https": "clickhouse",
    "trino": "trino",
    "trino+https": "trino",
    "mysql": "mysql",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
}
DIALECTS: Final[frozenset[str]] = frozenset(DIALECT_BY_SCHEME.values())


class InvalidWarehouseUrl(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class WarehouseUrl:
    url: str  # without password
    dialect: str
    password: str | None


def parse_warehouse_url(raw: str) -> WarehouseUrl:
    """Split a connection URL into its password-free form, its dialect and its password.

    >>> parse_warehouse_url("postgresql://app:s3cret@db:5432/shop")
    WarehouseUrl(url='postgresql://app@db:5432/shop', dialect='postgres', password='s3cret')
    """
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises on a malformed port
    except ValueError as exc:
        raise InvalidWarehouseUrl(f"not a valid URL: {exc}") from None
    scheme = parts.scheme.lower()
    dialect = DIALECT_BY_SCHEME.get(scheme)
    if dialect is None:
        known = ", ".join(sorted(DIALECT_BY_SCHEME))
        raise InvalidWarehouseUrl(f"unsupported scheme {scheme!r}; use one of: {known}")
    if scheme != "duckdb" and not parts.hostname:
        raise InvalidWarehouseUrl("the URL names no host")
    if parts.fragment:
        raise InvalidWarehouseUrl("the URL must not have a fragment")
    password = unquote(parts.password) if parts.password is not None else None
    return WarehouseUrl(raw if password is None else _without_password(parts, port), dialect, password)


def with_password(url: str, password: str | None) -> str:
    """The URL with `password` put back, for the connector that opens it."""
    if password is None:
        return url
    parts = urlsplit(url)
    user = quote(unquote(parts.username or ""), safe="")
    netloc = f"{user}:{quote(password, safe='')}@{_host_port(parts, parts.port)}"
    return urlunsplit(parts._replace(netloc=netloc))


def _without_password(parts: SplitResult, port: int | None) -> str:
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{_host_port(parts, port)}"))


def _host_port(parts: SplitResult, port: int | None) -> str:
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}" if port is not None else host
