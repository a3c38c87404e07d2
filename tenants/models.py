"""The registry's tables (SQLAlchemy 2 declarative). No I/O here.

Every table below a tenant cascades from it, so deleting a tenant removes everything it owned.
`row_version` backs ETags and `If-Match`; `RegistryVersion` is bumped by every write under the
tenant so that caches keyed by it (resolved filters, rewrites) are invalidated as a whole. It is a
table of its own so that a new dataset does not change the tenant's own ETag.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, MappedColumn, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


TENANT_ID_LENGTH = 26


def sortable_id() -> str:
    """A 26-hex-digit id that sorts by creation time (48-bit milliseconds, then 56 random bits)."""
    return f"{int(time.time() * 1000):012x}{os.urandom(7).hex()}"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class Timestamped:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    row_version: Mapped[int] = mapped_column(Integer)

    # The UPDATE carries "WHERE row_version = <read value>", so two writers that both passed an
    # If-Match check cannot both win: the loser gets StaleDataError, answered with 412.
    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:
        return {"version_id_col": cls.row_version}


def _tenant_fk() -> MappedColumn[str]:
    return mapped_column(String(32), ForeignKey("tenants.id", ondelete="CASCADE"), index=True)


class Tenant(Timestamped, Base):
    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=sortable_id)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dialect: Mapped[str] = mapped_column(String(32))
    signing_algorithm: Mapped[str] = mapped_column(String(16))
    token_ttl_seconds: Mapped[int] = mapped_column(Integer)
    max_token_ttl_seconds: Mapped[int] = mapped_column(Integer)
    row_limit: Mapped[int] = mapped_column(Integer)
    query_timeout_seconds: Mapped[int] = mapped_column(Integer)
    max_result_bytes: Mapped[int] = mapped_column(Integer)
    result_cache_ttl_seconds: Mapped[int] = mapped_column(Integer)

    __table_args__ = (CheckConstraint("status IN ('active', 'suspended')", name="status"),)


class RegistryVersion(Base):
    __tablename__ = "registry_versions"

    tenant_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, default=1)


class App(Timestamped, Base):
    """An OAuth2 client of a tenant's backend; only a hash of its secret is kept."""

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(128))
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16), default="active")

    __table_args__ = (CheckConstraint("status IN ('active', 'disabled')", name="status"),)


class Warehouse(Timestamped, Base):
    """A connection; the password is either encrypted here or named as an environment variable."""

    __tablename__ = "warehouses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(63))
    url: Mapped[str] = mapped_column(Text)
    dialect: Mapped[str] = mapped_column(String(32))
    password_encrypted: Mapped[str | None] = mapped_column(Text)
    password_env: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (UniqueConstraint("tenant_id", "name"),)


class SigningKey(Base):
    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str] = _tenant_fk()
    algorithm: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="active")
    public_jwk: Mapped[dict[str, Any] | None] = mapped_column()
    private_key_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When a newer key replaced it; tokens it signed stay valid until their expiry.
    rotated_at: Mapped[datetime | None] = mapped_column()

    __table_args__ = (CheckConstraint("status IN ('active', 'retiring', 'retired')", name="status"),)


class Dataset(Timestamped, Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(63))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id"), index=True)
    table_ref: Mapped[str | None] = mapped_column(String(255))
    sql: Mapped[str | None] = mapped_column(Text)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        UniqueConstraint("tenant_id", "name"),
        CheckConstraint("(table_ref IS NULL) <> (sql IS NULL)", name="table_xor_sql"),
    )


class Chart(Timestamped, Base):
    __tablename__ = "charts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    tenant_id: Mapped[str] = _tenant_fk()
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    viz_type: Mapped[str] = mapped_column(String(32))
    # SQL NULL, not JSON null, for a chart written as SQL: the check constraint below reads it.
    query: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    sql: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (CheckConstraint("(query IS NULL) <> (sql IS NULL)", name="query_xor_sql"),)


class Dashboard(Timestamped, Base):
    __tablename__ = "dashboards"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    tenant_id: Mapped[str] = _tenant_fk()
    title: Mapped[str] = mapped_column(String(200))
    layout: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DashboardChart(Base):
    __tablename__ = "dashboard_charts"

    dashboard_id: Mapped[int] = mapped_column(
        ForeignKey("dashboards.id", ondelete="CASCADE"), primary_key=True
    )
    chart_id: Mapped[int] = mapped_column(ForeignKey("charts.id"), primary_key=True, index=True)
    position: Mapped[int] = mapped_column(Integer)


class RowFilter(Timestamped, Base):
    """A tenant-configured RLS filter: Base (everyone but `roles`) or Regular (only `roles`)."""

    __tablename__ = "row_filters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    name: Mapped[str] = mapped_column(String(200))
    filter_type: Mapped[str] = mapped_column(String(16))
    # NULL with all_datasets true is the explicit "*" form; a NULL alone is never "every dataset".
    dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id"), index=True)
    all_datasets: Mapped[bool] = mapped_column(Boolean, default=False)
    clause: Mapped[str] = mapped_column(Text)
    group_key: Mapped[str | None] = mapped_column(String(100))
    roles: Mapped[list[Any]] = mapped_column(default=list)
    description: Mapped[str] = mapped_column(Text, default="")

    __table_args__ = (
        CheckConstraint("filter_type IN ('base', 'regular')", name="filter_type"),
        CheckConstraint("(dataset_id IS NULL) = all_datasets", name="one_target"),
    )


class Origin(Base):
    __tablename__ = "origins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    origin: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("tenant_id", "origin"),)


class IdempotencyRecord(Base):
    """The first answer to a POST carrying an Idempotency-Key, replayed for repeats of that key."""

    __tablename__ = "idempotency_records"

    scope: Mapped[str] = mapped_column(String(300), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    # Encrypted: the first answer to creating an app holds its one-time client secret.
    response_encrypted: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Webhook(Timestamped, Base):
    """An endpoint of a tenant's that receives its audit events; the signing secret is encrypted."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = _tenant_fk()
    url: Mapped[str] = mapped_column(String(2048))
    # Audit event types, or ["*"] for every one.
    event_types: Mapped[list[Any]] = mapped_column()
    description: Mapped[str] = mapped_column(Text, default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_encrypted: Mapped[str] = mapped_column(Text)
