"""Fixtures every test package shares: registries of each kind, gateways, the registry in process.

The harness behind them (services, gateways) is in `tests.support`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.bus.events import Event
from gateway.bus.memory import InProcessBus, InProcessSubscription
from gateway.config import Config
from gateway.http.bodies import validate
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.registry import Registry
from tenants.resources import NESTED, TENANTS, Resource
from tenants.store import RegistryStore
from tests.support.gateways import InProcessGateway, gateway_env
from tests.support.guests import RETIRING_MAX_TTL, Servers, default_body
from tests.support.services import SECRET_KEY, PostgresDatabases


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def postgres_databases() -> Iterator[PostgresDatabases]:
    databases = PostgresDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: PostgresDatabases
) -> str:
    """A fresh, empty registry database of each supported kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'registry.db'}"
    return postgres_databases.create()


@pytest.fixture
def gateway(database_url: str) -> Iterator[InProcessGateway]:
    """A running gateway on a fresh registry (SQLite and PostgreSQL), served in this process."""
    served = InProcessGateway(gateway_env(database_url)).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Gateway processes for a module's tests, all stopped (and their Redis keys dropped) at its end."""
    started = Servers(tmp_path_factory.mktemp("servers"))
    yield started
    started.stop_all()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[InProcessGateway]:
    """One running gateway per test module and registry backend, for tests that use distinct tenants."""
    directory = tmp_path_factory.mktemp("gateway")
    url = (
        f"sqlite:///{directory / 'registry.db'}" if request.param == "sqlite" else postgres_databases.create()
    )
    served = InProcessGateway(gateway_env(url)).start()
    yield served
    served.stop()


RESOURCES: dict[str, Resource] = {r.collection: r for r in NESTED}


@dataclass
class Backend:
    """The registry in-process (no HTTP): its engine, writer, reader and a config-event subscription."""

    engine: AsyncEngine
    registry: Registry
    store: RegistryStore
    events: InProcessSubscription

    async def create(self, collection: str, tenant: str | None, body: dict[str, Any]) -> dict[str, Any]:
        resource = TENANTS if collection == "tenants" else RESOURCES[collection]
        assert resource.create_body is not None
        outcome = await self.registry.create(
            resource, tenant, validate(resource.create_body, body), location_prefix="/x"
        )
        assert outcome.body is not None
        return outcome.body

    async def next_event(self) -> Event:
        async for _stream, event in self.events:
            return event
        raise AssertionError("subscription closed")


@pytest.fixture
async def backend(database_url: str) -> AsyncIterator[Backend]:
    config = Config.from_env({"GATEWAY_DATABASE_URL": database_url})
    engine = create_engine(config.database_url)
    await migrate(engine)
    box = SecretBox(SECRET_KEY)
    bus = InProcessBus()
    sessions = session_factory(engine)
    yield Backend(engine, Registry(sessions, box, bus), RegistryStore(sessions, box), bus.subscribe("config"))
    await bus.aclose()
    await engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def retirement(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """A rotation started when the session starts (when it will run tests/guest/test_retirement.py),
    so that the wait for the old key's retirement overlaps the other tests.

    A tenant whose tokens live at most 30 s mints a token and rotates its key: the old key must retire
    once every token it could have signed has expired (plus a grace for clock leeway).
    """
    scenario: dict[str, Any] = {}
    if not any(item.path.name == "test_retirement.py" for item in request.session.items):
        yield scenario
        return
    started = Servers(tmp_path_factory.mktemp("retirement"))
    try:
        gw = started.start()
        tenant = gw.onboard(max_ttl=RETIRING_MAX_TTL, token_ttl=RETIRING_MAX_TTL)
        scenario.update(gateway=gw, tenant=tenant, old_kid=gw.active_kid(tenant))
        token = gw.mint(tenant, default_body(tenant, ttl=RETIRING_MAX_TTL))
        scenario.update(token=token, first_read=gw.dashboard(token, tenant.dashboard["id"]).status_code)
        scenario["rotation"] = gw.admin.post(f"/api/v1/tenants/{tenant.slug}/keys/rotate")
        scenario["rotated_at"] = time.time()
    except Exception as error:  # reported by test_retirement.py, not by every test of the session
        scenario["setup_error"] = error
    try:
        yield scenario
    finally:
        started.stop_all()
