"""Gateways for the hardening tests: real processes, the real Redis (or none), a DuckDB demo warehouse.

Each tenant is onboarded from the demo bodies under a random slug with its own embed origins, so
that one tenant's origin is foreign to another's token.
"""

from __future__ import annotations

import secrets
from typing import Any, Final

import httpx
import pytest

from tests.dataplane.conftest import DataGateway, DataTenant, Engine, duckdb_engine
from tests.support.guests import Servers

__all__ = ["duckdb_engine"]  # the session's demo warehouse (a fixture, re-exported for this package)

SESSION_COOKIE: Final = "__Host-gw_session"
TICKET: Final = "/api/v1/embed/ticket"
OPEN_SESSION: Final = "/embedded/session"
LOGOUT: Final = "/embedded/logout"


class HardenedGateway(DataGateway):
    """The data-plane helper plus tenants with their own origins and the session-mode calls."""

    def tenant(self, engine: Engine, tenant_id: int = 1) -> tuple[DataTenant, str]:
        """A demo tenant allowing its own `https://<slug>.example` and any subdomain of it."""
        host = f"h{secrets.token_hex(4)}.example"
        origins = [f"https://app.{host}", f"https://*.{host}"]
        return self.onboard_demo(engine, tenant_id, settings={"origins": origins}), f"https://app.{host}"

    def token_for_origins(self, tenant: DataTenant, origins: list[str]) -> str:
        """A guest token for the tenant's dashboard whose `origins` claim narrows the tenant's list."""
        body = {
            "user": {"username": "alice"},
            "resources": [{"type": "dashboard", "id": tenant.dashboard["id"]}],
            "origins": origins,
        }
        response = self.mint_response(self.access_token(tenant.app), body)
        assert response.status_code == 200, response.text
        token: str = response.json()["token"]
        return token

    def ticket(self, token: str) -> httpx.Response:
        return self.http.post(TICKET, headers={"Authorization": f"Bearer {token}"})

    def open_session(self, ticket: str, *, cookie: str | None = None) -> httpx.Response:
        headers = {"Origin": self.url, **({"Cookie": f"{SESSION_COOKIE}={cookie}"} if cookie else {})}
        return self.http.post(OPEN_SESSION, json={"ticket": ticket}, headers=headers)

    def session_for(self, token: str) -> tuple[str, str]:
        """A session opened for `token` the way the embedded page does: (cookie value, CSRF token)."""
        ticket = self.ticket(token)
        assert ticket.status_code == 200, ticket.text
        opened = self.open_session(ticket.json()["ticket"])
        assert opened.status_code == 200, opened.text
        return session_cookie_of(opened), opened.json()["csrf_token"]

    def with_session(
        self,
        method: str,
        path: str,
        cookie: str,
        *,
        csrf: str | None = None,
        origin: str | None = "own",
        json: Any = None,
    ) -> httpx.Response:
        """A request as the embedded page sends it: the cookie, the page's origin, no Authorization."""
        headers = {"Cookie": f"{SESSION_COOKIE}={cookie}"}
        if origin is not None:
            headers["Origin"] = self.url if origin == "own" else origin
        if csrf is not None:
            headers["X-CSRF-Token"] = csrf
        return self.http.request(method, path, headers=headers, json=json)


def session_cookie_of(response: httpx.Response) -> str:
    """The session cookie's value, from the answer's one Set-Cookie header."""
    [header] = response.headers.get_list("set-cookie")
    name, _, rest = header.partition("=")
    assert name == SESSION_COOKIE, header
    return rest.split(";")[0]


@pytest.fixture(scope="module")
def gw(servers: Servers) -> HardenedGateway:
    """A gateway on a SQLite registry and the real Redis (fresh prefix), default settings."""
    return servers.start(HardenedGateway)
