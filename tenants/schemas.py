"""Request bodies of the onboarding API: shapes, bounds and the checks that need no database.

Unknown fields are refused everywhere (a typo in `max_token_ttl_seconds` must not silently keep the
default). Checks that need the registry (does the dataset exist, are the clause's columns the
dataset's) live in `tenants.resources`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Annotated, Any, Final, Literal, Self
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from gateway.tokens.keys import Algorithm

MAX_JSON_OBJECT_BYTES: Final = 16 * 1024
_LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _bounded_json(value: Any) -> Any:
    if len(json.dumps(value)) > MAX_JSON_OBJECT_BYTES:
        raise ValueError(f"must serialise to at most {MAX_JSON_OBJECT_BYTES} bytes of JSON")
    return value


def normalise_origin(value: str) -> str:
    """`scheme://host[:port]` in lower case, default ports dropped; `https://*.example.com` allowed.

    http is accepted only for loopback hosts, so that a production embed is never framed over
    plain HTTP.
    """
    raw = value.strip()
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise ValueError("must be scheme://host[:port]") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("scheme must be https (or http for localhost)")
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise ValueError("an origin is scheme://host[:port] with no path, query, fragment or credentials")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("the origin names no host")
    if scheme == "http" and host not in _LOOPBACK_HOSTS:
        raise ValueError("plain http is allowed only for localhost; use https")
    wildcard = host.startswith("*.")
    labels = host[2:].split(".") if wildcard else host.split(".")
    if "*" in host[2 if wildcard else 0 :]:
        raise ValueError("a wildcard may only be the whole first label, as in https://*.example.com")
    if wildcard and len(labels) < 2:
        raise ValueError("a wildcard needs a registrable domain below it, as in https://*.example.com")
    if not _is_ip(host) and not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError("the host is not a valid domain name")
    if port is not None and port == {"http": 80, "https": 443}[scheme]:
        port = None
    shown_host = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown_host}" + (f":{port}" if port is not None else "")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
Role = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
Description = Annotated[str, StringConstraints(max_length=2000)]
OriginStr = Annotated[str, StringConstraints(max_length=255), AfterValidator(normalise_origin)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
# The engines tenants.warehouse_urls knows; a test keeps the two lists equal.
Dialect = Literal["duckdb", "postgres", "clickhouse", "trino", "mysql", "snowflake", "bigquery"]
VizType = Literal["table", "bar", "line", "big_number", "pie"]
Aggregate = Literal["COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"]
FilterOperator = Literal[
    "==", "!=", ">", ">=", "<", "<=", "IN", "NOT IN", "LIKE", "IS NULL", "IS NOT NULL", "BETWEEN"
]  # fmt: skip
Clause = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
SqlText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100_000)]
ChartRef = int | Annotated[str, StringConstraints(max_length=64)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TenantSettings(Body):
    name: Name | None = None
    status: Literal["active", "suspended"] | None = None
    attributes: JsonObject | None = None
    dialect: Dialect | None = None
    token_ttl_seconds: int | None = Field(default=None, ge=30, le=86_400)
    max_token_ttl_seconds: int | None = Field(default=None, ge=30, le=86_400)
    row_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    query_timeout_seconds: int | None = Field(default=None, ge=1, le=600)
    result_cache_ttl_seconds: int | None = Field(default=None, ge=0, le=86_400)


class TenantCreate(Body):
    slug: Slug
    name: Name
    status: Literal["active", "suspended"] = "active"
    attributes: JsonObject = Field(default_factory=dict)
    dialect: Dialect = "postgres"
    signing_algorithm: Algorithm = "EdDSA"
    token_ttl_seconds: int = Field(default=300, ge=30, le=86_400)
    max_token_ttl_seconds: int = Field(default=3600, ge=30, le=86_400)
    row_limit: int = Field(default=10_000, ge=1, le=1_000_000)
    query_timeout_seconds: int = Field(default=30, ge=1, le=600)
    result_cache_ttl_seconds: int = Field(default=60, ge=0, le=86_400)
    origins: list[OriginStr] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _ttl_within_cap(self) -> Self:
        if self.token_ttl_seconds > self.max_token_ttl_seconds:
            raise ValueError("token_ttl_seconds must not exceed max_token_ttl_seconds")
        return self


class TenantUpdate(TenantSettings):
    pass


Scope = Literal["guest_token:create", "guest_token:revoke"]


def _all_scopes() -> list[Scope]:
    return ["guest_token:create", "guest_token:revoke"]


class AppCreate(Body):
    name: Name
    scopes: list[Scope] = Field(default_factory=_all_scopes, min_length=1, max_length=2)


class AppUpdate(Body):
    name: Name | None = None
    scopes: list[Scope] | None = Field(default=None, min_length=1, max_length=2)
    status: Literal["active", "disabled"] | None = None


class WarehouseCreate(Body):
    name: Slug
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
    password_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")] | None = None


class WarehouseUpdate(Body):
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)] | None = None
    password_env: Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]{0,127}$")] | None = None


class ColumnSpec(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=64)] = "VARCHAR"


def _unique_column_names(columns: list[ColumnSpec] | None) -> list[ColumnSpec] | None:
    if columns is not None:
        names = [c.name.lower() for c in columns]
        if len(set(names)) != len(names):
            raise ValueError("column names must be unique")
    return columns


Columns = Annotated[
    list[ColumnSpec], Field(min_length=1, max_length=500), AfterValidator(_unique_column_names)
]


class DatasetCreate(Body):
    name: Identifier
    warehouse: Slug
    table: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] | None = (
        None
    )
    sql: SqlText | None = None
    columns: Columns
    description: Description = ""

    @model_validator(mode="after")
    def _table_xor_sql(self) -> Self:
        if (self.table is None) == (self.sql is None):
            raise ValueError(
                "give exactly one of table (a schema.table reference) or sql (a virtual dataset)"
            )
        return self


class DatasetUpdate(Body):
    table: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)] | None = (
        None
    )
    sql: SqlText | None = None
    columns: Columns | None = None
    description: Description | None = None

    @model_validator(mode="after")
    def _not_both(self) -> Self:
        if self.table is not None and self.sql is not None:
            raise ValueError("give at most one of table or sql")
        return self


class Metric(Body):
    aggregate: Aggregate
    column: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    label: Identifier

    @model_validator(mode="after")
    def _column_unless_count(self) -> Self:
        if self.column is None and self.aggregate != "COUNT":
            raise ValueError(f"{self.aggregate} needs a column")
        return self


Scalar = str | int | float | bool | None


class QueryFilter(Body):
    column: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    op: FilterOperator
    value: Scalar | list[Scalar] = None

    @model_validator(mode="after")
    def _value_fits_operator(self) -> Self:
        if self.op in ("IS NULL", "IS NOT NULL"):
            if self.value is not None:
                raise ValueError(f"{self.op} takes no value")
        elif self.op in ("IN", "NOT IN"):
            if not isinstance(self.value, list) or not 1 <= len(self.value) <= 1000:
                raise ValueError(f"{self.op} needs a list of 1 to 1000 values")
        elif self.op == "BETWEEN":
            if not isinstance(self.value, list) or len(self.value) != 2:
                raise ValueError("BETWEEN needs a list of two values")
        elif self.value is None or isinstance(self.value, list):
            raise ValueError(f"{self.op} needs one value")
        return self


class OrderBy(Body):
    column: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    descending: bool = False


class QuerySpec(Body):
    metrics: list[Metric] = Field(default_factory=list, max_length=50)
    groupby: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=50
    )
    filters: list[QueryFilter] = Field(default_factory=list, max_length=50)
    order_by: list[OrderBy] = Field(default_factory=list, max_length=20)
    row_limit: int | None = Field(default=None, ge=1, le=1_000_000)

    @model_validator(mode="after")
    def _selects_something(self) -> Self:
        if not self.metrics and not self.groupby:
            raise ValueError("a query needs at least one metric or group-by column")
        labels = [m.label for m in self.metrics]
        if len(set(labels)) != len(labels):
            raise ValueError("metric labels must be unique")
        return self


class ChartCreate(Body):
    title: Name
    dataset: Identifier
    viz_type: VizType = "table"
    query: QuerySpec | None = None
    sql: SqlText | None = None

    @model_validator(mode="after")
    def _query_xor_sql(self) -> Self:
        if (self.query is None) == (self.sql is None):
            raise ValueError("give exactly one of query (a query spec) or sql")
        return self


class ChartUpdate(Body):
    title: Name | None = None
    viz_type: VizType | None = None
    query: QuerySpec | None = None
    sql: SqlText | None = None

    @model_validator(mode="after")
    def _not_both(self) -> Self:
        if self.query is not None and self.sql is not None:
            raise ValueError("give at most one of query or sql")
        return self


class DashboardCreate(Body):
    title: Name
    charts: list[ChartRef] = Field(default_factory=list, max_length=100)
    layout: JsonObject = Field(default_factory=dict)


class DashboardUpdate(Body):
    title: Name | None = None
    charts: list[ChartRef] | None = Field(default=None, max_length=100)
    layout: JsonObject | None = None


class FilterCreate(Body):
    name: Name
    filter_type: Literal["base", "regular"] = "base"
    dataset: Identifier | Literal["*"]
    clause: Clause
    group_key: Identifier | None = None
    roles: list[Role] = Field(default_factory=list, max_length=100)
    description: Description = ""

    @model_validator(mode="after")
    def _regular_needs_roles(self) -> Self:
        if self.filter_type == "regular" and not self.roles:
            raise ValueError("a regular filter applies only to the roles it lists; give at least one")
        return self


class FilterUpdate(Body):
    name: Name | None = None
    clause: Clause | None = None
    group_key: Identifier | None = None
    roles: list[Role] | None = Field(default=None, max_length=100)
    description: Description | None = None


class OriginCreate(Body):
    origin: OriginStr
