"""Fixtures of the guest-token acceptance tests (issue 3), all over real HTTP (`tests.support.guests`)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.guests import Gateway, Servers, default_body


@pytest.fixture(scope="module")
def gw(servers: Servers) -> Gateway:
    """One gateway on a SQLite registry and the real Redis, shared by a module's tests."""
    return servers.start()


RETIRING_MAX_TTL = 30  # the smallest max_token_ttl_seconds a tenant may have


@pytest.fixture(scope="session", autouse=True)
def retirement(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A rotation started when the session starts, so that the wait for the old key's retirement
    (checked in test_retirement.py, one of the last modules) overlaps the other tests.

    A tenant whose tokens live at most 30 s mints a token and rotates its key: the old key must retire
    once every token it could have signed has expired (plus a grace for clock leeway).
    """
    started = Servers(tmp_path_factory.mktemp("retirement"))
    scenario: dict[str, Any] = {}
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
