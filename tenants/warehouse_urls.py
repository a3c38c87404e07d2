"""Warehouse connection URLs: which SQL dialect each scheme speaks, and keeping passwords out of them.

The registry stores a URL without its password (shown to operators as is) and the password apart,
encrypted or as the name of an environment variable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlsplit, urlunsplit

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
# Query parameters that carry credentials would be stored and shown in clear: refused outright.
_CREDENTIAL_PARAMETER: Final = re.compile(r"pass|pwd|secret|token|key|credential|auth", re.IGNORECASE)


class InvalidWarehouseUrl(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class WarehouseUrl:
    url: str  # without password
    dialect: str
    password: str | None = field(repr=False)


def parse_warehouse_url(raw: str) -> WarehouseUrl:
    """Split a connection URL into its password-free form, its dialect and its password.

    Error messages never repeat the URL: it may hold a password.

    >>> parse_warehouse_url("postgresql://app:s3cret@db:5432/shop")
    WarehouseUrl(url='postgresql://app@db:5432/shop', dialect='postgres')
    """
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises on a malformed port
    except ValueError:
        raise InvalidWarehouseUrl(
            "not a valid URL (percent-encode special characters in the password)"
        ) from None
    scheme = parts.scheme.lower()
    dialect = DIALECT_BY_SCHEME.get(scheme)
    if dialect is None:
        known = ", ".join(sorted(DIALECT_BY_SCHEME))
        raise InvalidWarehouseUrl(f"unsupported scheme {scheme!r}; use one of: {known}")
    if scheme != "duckdb" and not parts.hostname:
        raise InvalidWarehouseUrl("the URL names no host")
    if parts.fragment:
        raise InvalidWarehouseUrl("the URL must not have a fragment")
    if "@" in parts.path or "@" in parts.query:
        raise InvalidWarehouseUrl(
            "the URL is ambiguous: percent-encode '@', '/', '?' and ':' in the password"
        )
    if any(_CREDENTIAL_PARAMETER.search(name) for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
        raise InvalidWarehouseUrl(
            "credentials in query parameters are not stored; put the password in the URL or use password_env"
        )
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
