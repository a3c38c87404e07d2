"""The Alembic migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection

from gateway.config import Config
from tenants.db import create_engine, is_current, migrate
from tenants.models import Base
from tests.support.services import PostgresDatabases

pytestmark = pytest.mark.anyio


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models_and_rerun_as_a_no_op(database_url: str) -> None:
    engine = create_engine(Config.from_env({"GATEWAY_DATABASE_URL": database_url}).database_url)
    try:
        assert not await is_current(engine)
        await migrate(engine)
        assert await is_current(engine)
        await migrate(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_replicas_starting_together_migrate_once(postgres_databases: PostgresDatabases) -> None:
    """Several engines (as several pods) migrate one fresh database at once: all succeed, schema at head."""
    url = Config.from_env({"GATEWAY_DATABASE_URL": postgres_databases.create()}).database_url
    engines = [create_engine(url) for _ in range(4)]
    try:
        await asyncio.gather(*(migrate(engine) for engine in engines))
        assert all([await is_current(engine) for engine in engines])
    finally:
        for engine in engines:
            await engine.dispose()
