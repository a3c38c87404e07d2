"""Request bodies of the onboarding API: shapes, bounds and the checks that need no database.

Unknown fields are refused everywhere (a typo in `max_token_ttl_seconds` must not silently keep the
default). Checks that need the registry (does the dataset exist, are the clause's columns the
dataset's) live in `tenants.resources`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal, Self

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    model_validator,
)

from gateway.bus.events import AUDIT_EVENT_TYPES
from gateway.http.bodies import StrictModel
from gateway.http.origins import normalise_origin
from gateway.http.outbound import MAX_WEBHOOK_URL_LENGTH
from gateway.rls.filter_spec import FilterSpec
from gateway.tokens.keys import Algorithm
from tenants.models import TENANT_ID_LENGTH

MAX_JSON_OBJECT_BYTES: Final = 16 * 1024


def _bounded_json(value: Any) -> Any:
    if len(json.dumps(value)) > MAX_JSON_OBJECT_BYTES:
        raise ValueError(f"must serialise to at most {MAX_JSON_OBJECT_BYTES} bytes of JSON")
    return value


def _not_an_id(slug: str) -> str:
    # URLs accept a tenant's slug or its id; a slug shaped like an id could shadow another tenant.
    if len(slug) == TENANT_ID_LENGTH and all(c in "0123456789abcdef" for c in slug):
        raise ValueError("a slug must not look like a tenant id (26 hexadecimal digits)")
    return slug


Slug = Annotated[
    str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"), AfterValidator(_not_an_id)
]
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
Clause = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
SqlText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100_000)]
ChartRef = int | Annotated[str, StringConstraints(max_length=64)]


Body = StrictModel


class TenantSettings(Body):
    name: Name | None = None
    status: Literal["active", "suspended"] | None = None
    attributes: JsonObject | None = None
    dialect: Dialect | None = None
    token_ttl_seconds: int | None = Field(default=None, ge=30, le=86_400)
    max_token_ttl_seconds: int | None = Field(default=None, ge=30, le=86_400)
    row_limit: int | None = Field(default=None, ge=1, le=1_000_000)
    query_timeout_seconds: int | None = Field(default=None, ge=1, le=600)
    max_result_bytes: int | None = Field(default=None, ge=1_000, le=100_000_000)
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
    max_result_bytes: int = Field(default=10_000_000, ge=1_000, le=100_000_000)
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


WarehouseUrlText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
# Only variables made for this purpose: a name like GATEWAY_SECRET_KEY must never be sendable to a host
# of the caller's choosing as a "password".
PasswordEnv = Annotated[str, StringConstraints(pattern=r"^WAREHOUSE_[A-Z0-9_]{1,118}$")]


class WarehouseCreate(Body):
    name: Slug
    url: WarehouseUrlText
    password_env: PasswordEnv | None = None


class WarehouseUpdate(Body):
    url: WarehouseUrlText | None = None
    password_env: PasswordEnv | None = None


class ColumnSpec(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=255)] = "VARCHAR"


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
    # Omitted: read from the warehouse (tenants.introspection).
    columns: Columns | None = None
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


class OrderBy(Body):
    column: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    descending: bool = False


class QuerySpec(Body):
    metrics: list[Metric] = Field(default_factory=list, max_length=50)
    groupby: list[Annotated[str, StringConstraints(min_length=1, max_length=128)]] = Field(
        default_factory=list, max_length=50
    )
    filters: list[FilterSpec] = Field(default_factory=list, max_length=50)
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


class ActionBody(Body):
    """Actions on an item take no parameters; an empty object is accepted, anything else refused."""


class KeyRotation(Body):
    algorithm: Algorithm | None = None


class OriginCreate(Body):
    origin: OriginStr


def _event_types(types: list[str]) -> list[str]:
    if len(set(types)) != len(types):
        raise ValueError("event types must be unique")
    if "*" in types:
        if types != ["*"]:
            raise ValueError('"*" (every event type) stands alone')
        return types
    unknown = sorted(set(types) - set(AUDIT_EVENT_TYPES))
    if unknown:
        raise ValueError(f'unknown event types {unknown}; use {list(AUDIT_EVENT_TYPES)} or ["*"]')
    return types


# The target rules (https, public hosts) depend on the operator's settings: checked in tenants.resources.
WebhookUrl = Annotated[str, StringConstraints(min_length=1, max_length=MAX_WEBHOOK_URL_LENGTH)]
EventTypes = Annotated[
    list[Annotated[str, StringConstraints(max_length=64)]],
    Field(min_length=1, max_length=len(AUDIT_EVENT_TYPES)),
    AfterValidator(_event_types),
]


class WebhookCreate(Body):
    url: WebhookUrl
    event_types: EventTypes
    description: Description = ""
    enabled: bool = True


class WebhookUpdate(Body):
    url: WebhookUrl | None = None
    event_types: EventTypes | None = None
    description: Description | None = None
    enabled: bool | None = None
