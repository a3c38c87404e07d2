"""The ASGI application: composition of both planes and the lifecycle of what they share.

The lifespan opens the registry engine (applying migrations), the Redis pool when REDIS_URL is set,
and the event bus; it closes them in reverse. This is the one module of `gateway` that imports
the control plane's API, to mount it; request handling in `gateway` reads the registry only
through `tenants.store`.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import health
from gateway.config import Config, Secret
from gateway.events.bus import EventBus
from gateway.events.memory import InProcessBus
from gateway.openapi import build_document
from gateway.web.errors import EXCEPTION_HANDLERS
from tenants import api as onboarding_api
from tenants.admin_auth import AdminAuthMiddleware
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.openapi import onboarding_paths
from tenants.registry import Registry
from tenants.store import RegistryStore

logger = logging.getLogger("gateway")


@dataclass(slots=True)
class Services:
    """What the lifespan opened, reachable from handlers as `request.app.state.services`."""

    config: Config
    store: RegistryStore
    registry: Registry
    bus: EventBus
    redis: Redis | None


def create_app(config: Config | None = None) -> Starlette:
    config = config or Config.from_env()
    admin_token = config.admin_token
    if admin_token is None:
        # Development only (production refuses to start without one): random per process, never a default.
        admin_token = Secret(secrets.token_urlsafe(32))
        logger.warning(
            "GATEWAY_ADMIN_TOKEN is not set; the onboarding API uses a random token for this process"
        )
    box = SecretBox(config.effective_secret_key().reveal())
    engine = create_engine(config.database_url, timeout_seconds=config.database_timeout_seconds)
    sessions = session_factory(engine)
    store = RegistryStore(sessions, box)
    bus = InProcessBus()
    registry = Registry(sessions, box, bus)
    redis = (
        Redis.from_url(
            config.redis_url,
            socket_timeout=config.redis_timeout_seconds,
            socket_connect_timeout=config.redis_timeout_seconds,
        )
        if config.redis_url
        else None
    )
    openapi = build_document([onboarding_paths()])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await migrate(engine)
        app.state.services = Services(config, store, registry, bus, redis)
        try:
            yield
        finally:
            await bus.aclose()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(openapi)

    checks: dict[str, Any] = {"registry": store.ping, "redis": redis.ping if redis is not None else None}
    routes = [
        *health.routes(checks, timeout_seconds=config.redis_timeout_seconds),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        *onboarding_api.routes(registry, max_bytes=config.max_request_bytes),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(AdminAuthMiddleware, token=admin_token)],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
