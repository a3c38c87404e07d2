"""Shared test infrastructure: real PostgreSQL databases, real Redis, real gateway processes.

PostgreSQL and Redis are located by GATEWAY_TEST_POSTGRES_URL and GATEWAY_TEST_REDIS_URL (defaults:
the local services). A test that needs one and cannot reach it errors; it is never skipped.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
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

POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN_TOKEN = "test-admin-" + secrets.token_urlsafe(24)
SECRET_KEY = secrets.token_urlsafe(48)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


class PostgresDatabases:
    """Creates throw-away databases on the test server and drops them afterwards."""

    def __init__(self) -> None:
        self._created: list[str] = []

    def create(self) -> str:
        name = f"gw_test_{secrets.token_hex(6)}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return _with_database(POSTGRES_URL, name)

    def drop_all(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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


class GatewayProcess:
    """`gateway serve` in its own OS process, as a user would start it."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a pipe nobody drains blocks the server once its buffer fills.
        self.log_path = cwd / f"gateway-{self.port}.log"

    def start(self, *extra_args: str) -> GatewayProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--port", str(self.port), *extra_args],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not answer /healthz within 30 s:\n{self.output()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> GatewayProcess:
        self.stop()
        return self.start()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


def gateway_env(database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "REDIS_URL"}
    # No load balancer waits on a test's gateway: it stops at once (tests of the drain set their own).
    env.update(
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN, GATEWAY_SECRET_KEY=SECRET_KEY, GATEWAY_SHUTDOWN_DRAIN_SECONDS="0"
    )
    if database_url is not None:
        env["GATEWAY_DATABASE_URL"] = database_url
    env.update(extra)
    return env


@pytest.fixture
def gateway(database_url: str, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A running gateway on a fresh registry (SQLite and PostgreSQL)."""
    process = GatewayProcess(gateway_env(database_url), tmp_path).start()
    yield process
    process.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def module_gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    postgres_databases: PostgresDatabases,
) -> Iterator[GatewayProcess]:
    """One running gateway per test module and registry backend, for tests that use distinct tenants."""
    directory = tmp_path_factory.mktemp("gateway")
    url = (
        f"sqlite:///{directory / 'registry.db'}" if request.param == "sqlite" else postgres_databases.create()
    )
    process = GatewayProcess(gateway_env(url), directory).start()
    yield process
    process.stop()


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
