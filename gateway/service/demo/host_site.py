"""`gateway demo`: the gateway with the demo data, plus a host site on another origin that embeds it.

The host site plays a customer's web application: its page (on `http://localhost:<host port>`, a
different origin from the gateway's `http://127.0.0.1:<port>`) embeds the dashboards of the two demo
tenants side by side through the SDK, and its backend mints their guest tokens with OAuth client
credentials, server side: the apps' secrets never reach the browser. Both servers run in one process
and one event loop; Ctrl-C stops both.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from importlib import resources
from typing import Annotated, Any, Final, Literal

import aiohttp
import uvicorn
from pydantic import SecretStr, StringConstraints
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from gateway.config import Config
from gateway.embed.page import script_json
from gateway.http.bodies import StrictModel, read_json, validate
from gateway.http.errors import EXCEPTION_HANDLERS, ApiError
from gateway.service.app import create_app
from gateway.service.demo.onboarding import DemoTenantAccess, prepare_demo
from gateway.telemetry.logs import LOG_CONFIG

logger = logging.getLogger("gateway.service.demo.host_site")

HOST_TIMEOUT: Final = aiohttp.ClientTimeout(total=10)
# An access token is renewed this long before the gateway says it expires.
ACCESS_TOKEN_MARGIN_SECONDS: Final = 30


class CredentialRequest(StrictModel):
    tenant: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    mode: Literal["cookieless", "session"] = "cookieless"


class UnknownTenant(ApiError):
    status = 404
    code = "unknown_tenant"


class GatewayRefused(ApiError):
    status = 502
    code = "gateway_refused"


@dataclasses.dataclass(slots=True)
class _AccessToken:
    value: str
    renew_at: float


class HostSite:
    """The demo's host application: one page, and the backend endpoint its SDK asks for credentials."""

    def __init__(
        self, *, gateway_url: str, tenants: Sequence[DemoTenantAccess], token_ttl: int | None = None
    ) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.tenants = {tenant.slug: tenant for tenant in tenants}
        self.token_ttl = token_ttl
        self._http: aiohttp.ClientSession | None = None
        self._access_tokens: dict[str, _AccessToken] = {}

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/", self.page, methods=["GET"]),
                Route("/api/credential", self.credential, methods=["POST"]),
            ],
            exception_handlers=EXCEPTION_HANDLERS,
            lifespan=self._lifespan,
        )

    @contextlib.asynccontextmanager
    async def _lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        async with aiohttp.ClientSession(timeout=HOST_TIMEOUT) as http:
            self._http = http
            yield
            self._http = None

    async def page(self, _request: Request) -> Response:
        return HTMLResponse(host_page(self.gateway_url, list(self.tenants.values())))

    async def credential(self, request: Request) -> Response:
        """What the page's `fetchGuestToken` calls: a guest token, or in session mode a ticket."""
        body = validate(CredentialRequest, await read_json(request, max_bytes=4096))
        tenant = self.tenants.get(body.tenant)
        if tenant is None:
            raise UnknownTenant(f"no demo tenant {body.tenant[:64]!r}")
        token = await self.guest_token(tenant)
        if body.mode == "session":
            answer = await self._post("/api/v1/embed/ticket", token=token, json_body={})
            return JSONResponse({"credential": answer["ticket"]}, headers={"Cache-Control": "no-store"})
        return JSONResponse({"credential": token}, headers={"Cache-Control": "no-store"})

    async def guest_token(self, tenant: DemoTenantAccess) -> str:
        mint: dict[str, Any] = {
            "user": {"username": "demo-viewer", "first_name": "Demo", "last_name": "Viewer"},
            "resources": [{"type": "dashboard", "id": tenant.dashboard_uuid}],
            "rls": [],
        }
        if self.token_ttl is not None:
            mint["ttl"] = self.token_ttl
        answer = await self._post(
            "/api/v1/security/guest_token/", token=await self._access_token(tenant), json_body=mint
        )
        return str(answer["token"])

    async def _access_token(self, tenant: DemoTenantAccess) -> str:
        cached = self._access_tokens.get(tenant.slug)
        if cached is not None and time.monotonic() < cached.renew_at:
            return cached.value
        assert self._http is not None
        async with self._http.post(
            f"{self.gateway_url}/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=aiohttp.BasicAuth(tenant.client_id, tenant.client_secret),
        ) as response:
            answer = await _answer_of(response)
        lifetime = float(answer.get("expires_in", 0))
        self._access_tokens[tenant.slug] = _AccessToken(
            str(answer["access_token"]), time.monotonic() + lifetime - ACCESS_TOKEN_MARGIN_SECONDS
        )
        return str(answer["access_token"])

    async def _post(self, path: str, *, token: str, json_body: dict[str, Any]) -> dict[str, Any]:
        assert self._http is not None
        async with self._http.post(
            self.gateway_url + path, json=json_body, headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return await _answer_of(response)


async def _answer_of(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        answer = await response.json(content_type=None)
    except ValueError:
        answer = None
    if response.status != 200 or not isinstance(answer, dict):
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        raise GatewayRefused(f"the gateway answered {response.status} {error.get('code', '')}".strip())
    return answer


def host_page(gateway_url: str, tenants: Sequence[DemoTenantAccess]) -> str:
    config = {
        "gatewayUrl": gateway_url,
        "tenants": [{"slug": t.slug, "name": t.name, "dashboard": t.dashboard_uuid} for t in tenants],
    }
    template = (resources.files("gateway.service.demo") / "host.html").read_text(encoding="utf-8")
    block = f'<script type="application/json" id="demo-config">{script_json(config)}</script>'
    return template.replace("<!-- demo-config -->", block)


class _SharedSignalServer(uvicorn.Server):
    """A uvicorn server that leaves SIGINT and SIGTERM to `run_demo`, which stops both servers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def run_demo(*, host: str, port: int, host_port: int, token_ttl: int | None) -> int:
    config = Config.from_env()
    admin_token = None
    if config.admin_token is None:
        admin_token = secrets.token_urlsafe(32)
        config = config.model_copy(update={"admin_token": SecretStr(admin_token)})
    gateway_url = f"http://{host}:{port}"
    host_origin = f"http://localhost:{host_port}"
    tenants = asyncio.run(prepare_demo(config, origins=[host_origin]))
    gateway = _SharedSignalServer(
        uvicorn.Config(create_app(config), host=host, port=port, log_config=LOG_CONFIG, server_header=False)
    )
    site = HostSite(gateway_url=gateway_url, tenants=tenants, token_ttl=token_ttl)
    host_server = _SharedSignalServer(
        uvicorn.Config(site.app(), host="127.0.0.1", port=host_port, log_config=LOG_CONFIG, access_log=False)
    )
    lines = [
        f"gateway:   {gateway_url}   (tenants: {', '.join(t.slug for t in tenants)})",
        f"host site: {host_origin}/   (embeds both tenants' dashboards; another origin)",
    ]
    if admin_token is not None:
        lines.append(f"GATEWAY_ADMIN_TOKEN was not set; this run's admin token is: {admin_token}")
    lines.append("Ctrl-C stops both.")
    print("\n".join(lines), file=sys.stderr, flush=True)
    asyncio.run(_serve_both(gateway, host_server))
    return 0 if gateway.started and host_server.started else 1


async def _serve_both(*servers: uvicorn.Server) -> None:
    def stop() -> None:
        for server in servers:
            server.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)
    tasks = [asyncio.ensure_future(server.serve()) for server in servers]
    # When one stops (Ctrl-C, or it could not start: its port is taken), the other stops too.
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    stop()
    for task in tasks:
        with contextlib.suppress(SystemExit):
            await task
