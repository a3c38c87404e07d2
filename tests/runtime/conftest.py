"""Gateways for the runtime tests (issue 8): real `gateway serve` processes, as an operator runs them.

Each test starts its own servers (counters and logs then hold only what that test did), backed by the
real Redis under a fresh prefix, so the replica follower applies real bus events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.gateways import GatewayProcess, gateway_env
from tests.support.guests import Gateway, drop_redis_prefix, redis_prefix
from tests.support.services import REDIS_URL

StartGateway = Callable[..., Gateway]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[StartGateway]:
    """`start_gateway(database_url=None, *args, **env)`: a running gateway; stopped after the test."""
    started: list[Gateway] = []
    prefixes: list[str] = []

    def start(database_url: str | None = None, *args: str, **env: str) -> Gateway:
        database_url = database_url or f"sqlite:///{tmp_path / f'registry-{len(started)}.db'}"
        prefix = redis_prefix()
        prefixes.append(prefix)
        settings = {"REDIS_URL": REDIS_URL, "GATEWAY_REDIS_PREFIX": prefix, **env}
        process = GatewayProcess(gateway_env(database_url, **settings), tmp_path).start(*args)
        gateway = Gateway(process, database_url=database_url, redis_prefix=prefix)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.close()
        gateway.process.stop()
    for prefix in prefixes:
        drop_redis_prefix(prefix)
