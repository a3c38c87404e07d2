"""Fixtures of the guest-token acceptance tests (issue 3), all over real HTTP (`tests.support.guests`)."""

from __future__ import annotations

import pytest

from tests.support.guests import Gateway, Servers


@pytest.fixture(scope="module")
def gw(servers: Servers) -> Gateway:
    """One gateway on a SQLite registry and the real Redis, shared by a module's tests."""
    return servers.start()
