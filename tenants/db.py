"""The registry database: async engine creation and Alembic migrations applied at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def create_engine(url: str, *, timeout_seconds: float = 5.0) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": timeout_seconds}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_async_engine(
        url,
        pool_size=5,
        max_overflow=10,
        pool_timeout=timeout_seconds,
        pool_pre_ping=True,
        # Logged errors must not carry parameter values: they include encrypted secrets and user text.
        hide_parameters=True,
        connect_args={"timeout": timeout_seconds, "command_timeout": timeout_seconds},
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite leaves foreign keys off per connection; WAL lets readers proceed during a write.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
    # The driver would otherwise run SELECTs outside the transaction and BEGIN lazily at the first
    # write, so a read-then-write (a key rotation) could act on what another writer just changed.
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(connection: Connection) -> None:
    # Take the write lock up front: SQLite has no SELECT ... FOR UPDATE, this is its equivalent.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config() -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


# Any constant: every replica takes the same lock, so only one migrates at a time.
_MIGRATION_LOCK_ID = 0x6757_5F6D


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there.

    On PostgreSQL an advisory lock serialises replicas starting together, so a rollout of many
    pods never races two migrations.
    """
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        await connection.run_sync(_upgrade_to_head)


async def is_current(engine: AsyncEngine) -> bool:
    async with engine.connect() as connection:
        return await connection.run_sync(_at_head)


def _upgrade_to_head(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _at_head(connection: Connection) -> bool:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return MigrationContext.configure(connection).get_current_revision() == head
