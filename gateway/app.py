"""The ASGI application: composition of both planes and the lifecycle of what they share.

The lifespan opens the registry engine (applying migrations), the Redis pool when REDIS_URL is set,
and the event bus; it closes them in reverse. This is the one module of `gateway` that imports
the control plane's API, to mount it; request handling in `gateway` reads the registry only
through `tenants.store`.

Every request gets an id (echoed as X-Request-ID), a JSON access line and its count in /metrics.
The app never configures logging: the server does, once per process (gateway.logs).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway import health
from gateway.access_tokens import AccessTokens
from gateway.config import Config, Secret
from gateway.dashboards import DashboardApi
from gateway.data_api import DataApi
from gateway.events.bus import EventBus
from gateway.events.memory import InProcessBus
from gateway.events.redis_streams import RedisStreamsBus
from gateway.guest_auth import handle_token_error
from gateway.guest_tokens import GuestTokenApi
from gateway.metrics import Metrics, openapi_section
from gateway.oauth import TokenEndpoint
from gateway.openapi import build_document, data_plane_paths
from gateway.rate_limit import FixedWindowLimiter
from gateway.replica import Replica
from gateway.result_cache import ResultCache
from gateway.rls.rewrite import RewriteCache
from gateway.tenant_keys import TenantKeys
from gateway.tenant_snapshot import TenantSnapshots
from gateway.tokens.errors import TokenError
from gateway.tokens.revocation import InProcessRevocationStore, RedisRevocationStore, RevocationStore
from gateway.tokens.verify import TokenVerifier
from gateway.warehouse import Connectors
from gateway.web.access_log import AccessLogMiddleware
from gateway.web.errors import EXCEPTION_HANDLERS
from gateway.web.request_id import RequestIdMiddleware
from gateway.web.request_metrics import RequestMetricsMiddleware
from tenants import api as onboarding_api
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.openapi import onboarding_paths
from tenants.registry import Registry
from tenants.store import RegistryStore

logger = logging.getLogger("gateway")


# Revocation records must outlive the longest token a tenant may be allowed (schemas: 1 day).
MAX_TOKEN_LIFETIME: Final = timedelta(days=1)
VERIFY_LEEWAY: Final = timedelta(seconds=10)


@dataclass(slots=True)
class Services:
    """What the lifespan opened, reachable from handlers as `request.app.state.services`."""

    config: Config
    store: RegistryStore
    registry: Registry
    bus: EventBus
    redis: Redis | None
    keys: TenantKeys
    verifier: TokenVerifier


def create_app(config: Config | None = None) -> Starlette:
    config = config or Config.from_env()
    metrics = Metrics()
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
    redis = (
        Redis.from_url(
            config.redis_url,
            socket_timeout=config.redis_timeout_seconds,
            socket_connect_timeout=config.redis_timeout_seconds,
        )
        if config.redis_url
        else None
    )
    bus: EventBus = (
        RedisStreamsBus(redis, prefix=config.redis_prefix, read_timeout=config.redis_timeout_seconds)
        if redis is not None
        else InProcessBus()
    )
    registry = Registry(sessions, box, bus)
    record_ttl = MAX_TOKEN_LIFETIME + 2 * VERIFY_LEEWAY
    revocations: RevocationStore = (
        RedisRevocationStore(
            redis,
            key_prefix=config.redis_prefix,
            record_ttl=record_ttl,
            fail_open=config.revocation_fail_open,
        )
        if redis is not None
        else InProcessRevocationStore(record_ttl=record_ttl)
    )
    keys = TenantKeys(store)
    verifier = TokenVerifier(
        keys.keyring,
        audience=config.token_audience,
        issuer=config.token_issuer,
        tenant_status=keys.tenant_status,
        revocations=revocations,
        leeway=VERIFY_LEEWAY,
        max_lifetime=MAX_TOKEN_LIFETIME,
    )
    access_tokens = AccessTokens(
        redis, prefix=config.redis_prefix, ttl_seconds=config.access_token_ttl_seconds
    )
    guest_tokens = GuestTokenApi(
        store=store,
        keys=keys,
        access_tokens=access_tokens,
        limiter=FixedWindowLimiter(
            redis, prefix=config.redis_prefix, name="mint", limit=config.mint_rate_limit_per_minute
        ),
        revocations=revocations,
        bus=bus,
        issuer=config.token_issuer,
        audience=config.token_audience,
        max_body_bytes=config.max_request_bytes,
    )
    snapshots = TenantSnapshots(store)
    connectors = Connectors()
    data_api = DataApi(
        snapshots=snapshots,
        verifier=verifier,
        connectors=connectors,
        results=ResultCache(redis, prefix=config.redis_prefix),
        rewrites=RewriteCache(
            on_lookup=lambda hit: metrics.cache_requests.labels("rewrite", "hit" if hit else "miss").inc()
        ),
        bus=bus,
        metrics=metrics,
        max_body_bytes=config.max_request_bytes,
    )
    replica = Replica(bus, keys, revocations, snapshots, metrics=metrics)
    openapi = build_document([onboarding_paths(), data_plane_paths(), openapi_section()])

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await migrate(engine)
        await replica.start()
        app.state.services = Services(config, store, registry, bus, redis, keys, verifier)
        try:
            yield
        finally:
            await replica.stop()
            await connectors.aclose()
            await bus.aclose()
            if redis is not None:
                await redis.aclose()
            await engine.dispose()

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(openapi)

    async def redis_ping() -> None:
        assert redis is not None
        try:
            await redis.ping()
        except (RedisError, OSError):
            metrics.redis_errors.inc()
            raise

    def observe_readiness(ready: bool) -> None:
        metrics.ready.set(1 if ready else 0)

    checks: dict[str, Any] = {"registry": store.ping, "redis": redis_ping if redis is not None else None}
    routes = [
        *health.routes(checks, timeout_seconds=config.redis_timeout_seconds, observe=observe_readiness),
        *metrics.routes(),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/oauth/token", TokenEndpoint(store, access_tokens).handle, methods=["POST"]),
        *guest_tokens.routes(),
        *DashboardApi(snapshots, verifier).routes(),
        *data_api.routes(),
        *onboarding_api.routes(registry, max_bytes=config.max_request_bytes, admin_token=admin_token),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(RequestIdMiddleware),
            Middleware(AccessLogMiddleware),
            Middleware(RequestMetricsMiddleware, metrics=metrics),
        ],
        exception_handlers={**EXCEPTION_HANDLERS, TokenError: handle_token_error},
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    return app
