"""The ASGI application: composition of both planes and the lifecycle of what they share.

The lifespan opens the registry engine (applying migrations), the Redis pool when REDIS_URL is set,
and the event bus; it closes them in reverse. This is the one module of `gateway` that imports
the control plane's API, to mount it; request handling in `gateway` reads the registry only
through `tenants.store`.

Every request gets an id (echoed as X-Request-ID), a JSON access line and its count in /metrics.
The app never configures logging: the server does, once per process (gateway.telemetry.logs).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Sequence
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
from starlette.types import ASGIApp

from gateway.bus.events import EventBus
from gateway.bus.redis_streams import RedisStreamsBus, configured_bus
from gateway.config import Config, Secret
from gateway.data.api import DataApi
from gateway.data.dashboards import DashboardApi
from gateway.data.plans import QueryPlans
from gateway.data.result_cache import ResultCache
from gateway.data.row_policy import RowPolicies
from gateway.edge.access_log import AccessLog
from gateway.edge.cors import KnownOrigins
from gateway.edge.direct_routes import DirectRoutes
from gateway.edge.middleware import EdgeMiddleware
from gateway.embed.assets import EmbedAssets
from gateway.embed.openapi import openapi_section as embed_openapi_section
from gateway.embed.page import EmbedPage
from gateway.embed.session_api import SessionApi
from gateway.events.audit_trail import AuditTrail
from gateway.events.denials import recording_denials
from gateway.events.webhooks.worker import webhook_worker
from gateway.guest.auth import GuestAuth, handle_token_error
from gateway.guest.sessions import EmbedSessions, InProcessSessionStore, RedisSessionStore, SessionStore
from gateway.host_api.access_tokens import AccessTokens
from gateway.host_api.mint_api import GuestTokenApi
from gateway.host_api.oauth import TokenEndpoint
from gateway.http.errors import EXCEPTION_HANDLERS, ApiError, handle_api_error
from gateway.http.rate_limit import FixedWindowLimiter
from gateway.replica.follower import Replica
from gateway.replica.keys import TenantKeys
from gateway.replica.snapshots import TenantSnapshots
from gateway.rls.rewrite import RewriteCache
from gateway.service import health
from gateway.service.openapi import build_document, data_plane_paths
from gateway.telemetry.metrics import Metrics, openapi_section
from gateway.tokens.errors import TokenError
from gateway.tokens.revocation import InProcessRevocationStore, RedisRevocationStore, RevocationStore
from gateway.tokens.verify import TokenVerifier
from gateway.warehouse import Connectors, QueryFailed, WarehouseError
from tenants import api as onboarding_api
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.errors import Invalid
from tenants.introspection import ColumnSource, Introspect, IntrospectionFailed, TableNotFound
from tenants.openapi import onboarding_paths
from tenants.registry import Registry
from tenants.resources import WriteSettings
from tenants.store import RegistryStore

logger = logging.getLogger("gateway")


# Revocation records must outlive the longest token a tenant may be allowed (schemas: 1 day).
MAX_TOKEN_LIFETIME: Final = timedelta(days=1)
VERIFY_LEEWAY: Final = timedelta(seconds=10)
# Session mode: a page takes a ticket per token refresh; anything beyond this is abuse.
TICKETS_PER_TOKEN_PER_HOUR: Final = 10
# How each engine says a table or schema does not exist: PostgreSQL's SQLSTATEs, DuckDB's exception,
# ClickHouse's UNKNOWN_TABLE and UNKNOWN_DATABASE.
MISSING_RELATION_CODES: Final = frozenset({"42P01", "3F000", "CatalogException", "60", "81"})


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


def warehouse_introspection(connectors: Connectors) -> Introspect:
    """How the onboarding API reads a dataset's columns: through the data plane's connectors, their
    errors turned into the registry's (messages stay free of credentials and SQL)."""

    async def introspect(warehouse_url: str, source: ColumnSource) -> list[tuple[str, str]]:
        try:
            connector = connectors.get(warehouse_url)
        except ValueError as exc:  # no connector for this engine, or a URL it cannot open
            raise Invalid(f"columns cannot be read here ({exc}); give columns", field="columns") from None
        try:
            if source.table is not None:
                columns = await connector.columns_of(source.table)
            else:
                assert source.query is not None
                timeout = connector.options.introspection_timeout
                columns = (await connector.execute(source.query, row_limit=0, timeout=timeout)).columns
        except QueryFailed as exc:
            if exc.code in MISSING_RELATION_CODES:
                missing = source.table or "a table the query reads"
                raise TableNotFound(f"{missing} does not exist", field=source.field) from None
            raise Invalid(f"the warehouse cannot describe it: {exc}", field=source.field) from None
        except WarehouseError as exc:
            raise IntrospectionFailed(f"cannot read the columns: {exc}") from None
        return [(column.name, column.type) for column in columns]

    return introspect


CLOSE_TIMEOUT_SECONDS: Final = 5.0


async def _closed_within(what: str, closing: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT_SECONDS)
    except TimeoutError:
        logger.warning("closing the %s took more than %g s; left behind", what, CLOSE_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("closing the %s failed", what)


class GatewayApp(Starlette):
    """Starlette, with middleware that wraps even its outermost error handler (`outer_middleware`).

    Starlette puts its 500 handler outside every user middleware, so an unhandled error would be
    answered without the request id and the security headers.
    """

    def __init__(self, *, outer_middleware: Sequence[Middleware], **kwargs: Any) -> None:
        self._outer_middleware = list(outer_middleware)
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        app = super().build_middleware_stack()
        for cls, args, kwargs in reversed(self._outer_middleware):
            app = cls(app, *args, **kwargs)
        return app


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
    bus = configured_bus(config, redis)
    audit = AuditTrail(bus, on_dropped=metrics.audit_events_dropped.inc)
    connectors = Connectors()
    registry = Registry(
        sessions,
        box,
        bus,
        settings=WriteSettings(webhook_allow_private=config.webhook_allow_private),
        introspect=warehouse_introspection(connectors),
    )
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
        audit=audit,
        issuer=config.token_issuer,
        audience=config.token_audience,
        max_body_bytes=config.max_request_bytes,
    )
    snapshots = TenantSnapshots(store)
    session_store: SessionStore = (
        RedisSessionStore(redis, prefix=config.redis_prefix) if redis is not None else InProcessSessionStore()
    )
    embed_sessions = EmbedSessions(
        session_store,
        secret_key=config.effective_secret_key().reveal(),
        ticket_seconds=config.session_ticket_seconds,
        idle_seconds=config.session_idle_seconds,
        max_seconds=config.session_max_seconds,
    )
    revocations.add_listener(embed_sessions.forget_revoked)
    data_api = DataApi(
        snapshots=snapshots,
        verifier=verifier,
        connectors=connectors,
        results=ResultCache(redis, prefix=config.redis_prefix),
        plans=QueryPlans(
            RowPolicies(redis, prefix=config.redis_prefix),
            RewriteCache(on_lookup=metrics.cache_lookup_counter("rewrite")),
            on_lookup=metrics.cache_lookup_counter("plan"),
        ),
        audit=audit,
        metrics=metrics,
        max_body_bytes=config.max_request_bytes,
    )
    replica = Replica(bus, store, keys, revocations, snapshots, metrics=metrics)
    # Webhooks need what only Redis offers: a consumer group, the dead-letter stream, delivery markers.
    webhooks = (
        webhook_worker(config, redis, bus, store)
        if redis is not None and isinstance(bus, RedisStreamsBus)
        else None
    )
    if webhooks is None:
        logger.warning("REDIS_URL is not set: webhooks are not delivered by a gateway without Redis")
    access_log = AccessLog()
    openapi = build_document(
        [onboarding_paths(), data_plane_paths(), openapi_section(), embed_openapi_section()]
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await migrate(engine)
        await replica.start()
        audit.start()
        if webhooks is not None:
            await webhooks.start()
        app.state.services = Services(config, store, registry, bus, redis, keys, verifier)
        try:
            yield
        finally:
            access_log.flush()
            # Each step bounded: a dependency that hangs while closing must not keep the process alive.
            await _closed_within("audit trail", audit.aclose())
            if webhooks is not None:
                await _closed_within("webhook deliveries", webhooks.stop())
            await _closed_within("event follower", replica.stop())
            await _closed_within("warehouse connectors", connectors.aclose())
            await _closed_within("event bus", bus.aclose())
            if redis is not None:
                await _closed_within("Redis", redis.aclose())
            await _closed_within("registry", engine.dispose())

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
    if redis is not None:
        checks["events"] = replica.check_in_sync
    exception_handlers = {
        **EXCEPTION_HANDLERS,
        ApiError: recording_denials(handle_api_error, audit),
        TokenError: recording_denials(handle_token_error, audit),
    }
    data_routes = data_api.routes()
    routes = [
        *data_routes,  # served by DirectRoutes; here for the other methods' 405
        *health.routes(checks, timeout_seconds=config.redis_timeout_seconds, observe=observe_readiness),
        *metrics.routes(),
        Route("/openapi.json", openapi_json, methods=["GET"]),
        Route("/oauth/token", TokenEndpoint(store, access_tokens).handle, methods=["POST"]),
        *guest_tokens.routes(),
        *DashboardApi(snapshots, verifier).routes(),
        *SessionApi(
            embed_sessions,
            verifier,
            tickets=FixedWindowLimiter(
                redis,
                prefix=config.redis_prefix,
                name="ticket",
                limit=TICKETS_PER_TOKEN_PER_HOUR,
                window_seconds=3600,
            ),
            max_body_bytes=config.max_request_bytes,
        ).routes(),
        *EmbedPage(store, snapshots, EmbedAssets()).routes(),
        *onboarding_api.routes(registry, max_bytes=config.max_request_bytes, admin_token=admin_token),
    ]
    app = GatewayApp(
        # Around Starlette's own 500 handler too: an unhandled error still gets its id and headers.
        outer_middleware=[
            Middleware(
                EdgeMiddleware,
                metrics=metrics,
                known_origins=KnownOrigins(store.all_origins),
                access_log=access_log,
            ),
            # The data plane's hot routes, past Starlette's router and exception middleware.
            Middleware(DirectRoutes, routes=data_routes, exception_handlers=exception_handlers),
        ],
        routes=routes,
        exception_handlers=exception_handlers,
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.guest_auth = GuestAuth(snapshots, embed_sessions)
    return app
