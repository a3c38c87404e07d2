"""The ASGI application, assembled in the order a request meets it.

`create_app` reads top to bottom as a request travels: the edge every request passes (its id, CORS
preflights, the security headers, the access line), the data plane's hot routes served past
Starlette's router, then the routes by caller: embedded dashboards (data, dashboards, the page and
its sessions), host-app backends (OAuth, guest tokens), operators (onboarding, probes, metrics,
OpenAPI). What the routes share is opened by `gateway.service.runtime`, and only there; this is the
one module of `gateway` that mounts the control plane's API, and request handling reads the
registry only through `tenants.store`.

The app never configures logging: the server does, once per process (`gateway.telemetry.logs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from gateway.config import Config
from gateway.data.api import DataApi
from gateway.data.dashboards import DashboardApi
from gateway.data.fair_share import FairShares
from gateway.data.plans import QueryPlans
from gateway.data.result_cache import ResultCache
from gateway.data.row_policy import RowPolicies
from gateway.edge.cors import KnownOrigins
from gateway.edge.direct_routes import DirectRoutes
from gateway.edge.middleware import EdgeMiddleware
from gateway.embed.assets import EmbedAssets
from gateway.embed.openapi import openapi_section as embed_openapi_section
from gateway.embed.page import EmbedPage
from gateway.embed.session_api import SessionApi
from gateway.events.denials import recording_denials
from gateway.guest.auth import GuestAuth
from gateway.guest.sessions import EmbedSessions, InProcessSessionStore, RedisSessionStore
from gateway.host_api.access_tokens import AccessTokens
from gateway.host_api.mint_api import GuestTokenApi
from gateway.host_api.oauth import TokenEndpoint
from gateway.http.errors import EXCEPTION_HANDLERS, ApiError, handle_api_error
from gateway.http.rate_limit import FixedWindowLimiter
from gateway.service import health
from gateway.service.openapi import build_document, data_plane_paths
from gateway.service.runtime import Runtime
from gateway.telemetry.metrics import openapi_section as metrics_openapi_section
from gateway.tokens.errors import TokenError
from tenants import api as onboarding_api
from tenants.openapi import onboarding_paths

# Session mode: a page takes a ticket per token refresh; anything beyond this is abuse.
TICKETS_PER_TOKEN_PER_HOUR: Final = 10


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
    run = Runtime.open(config or Config.from_env())
    config, metrics, redis, prefix = run.config, run.metrics, run.redis, run.config.redis_prefix
    guests = GuestAuth(run.verifier, run.snapshots, _embed_sessions(run), metrics)
    errors = {
        **EXCEPTION_HANDLERS,
        ApiError: recording_denials(handle_api_error, run.audit),
        TokenError: recording_denials(guests.handle_token_error, run.audit),
    }
    data = DataApi(
        guests=guests,
        snapshots=run.snapshots,
        plans=QueryPlans(
            RowPolicies(redis, prefix=prefix),
            run.rewrites,
            on_lookup=metrics.cache_lookup_counter("plan"),
        ),
        results=ResultCache(redis, prefix=prefix),
        shares=FairShares(
            redis,
            prefix=prefix,
            tenant_rate=config.tenant_data_rate_per_second,
            user_rate=config.user_data_rate_per_second,
            tenant_queries=config.tenant_query_concurrency,
            user_queries=config.user_query_concurrency,
            lease_seconds=config.query_slot_lease_seconds,
        ),
        connectors=run.connectors,
        audit=run.audit,
        metrics=metrics,
        max_body_bytes=config.max_request_bytes,
    ).routes()
    access_tokens = AccessTokens(redis, prefix=prefix, ttl_seconds=config.access_token_ttl_seconds)
    return GatewayApp(
        outer_middleware=[
            # Around Starlette's own 500 handler too: an unhandled error still gets its id and headers.
            Middleware(
                EdgeMiddleware,
                metrics=metrics,
                known_origins=KnownOrigins(run.store.all_origins),
                access_log=run.access_log,
            ),
            # The data plane's hot routes, past Starlette's router and exception middleware.
            Middleware(DirectRoutes, routes=data, exception_handlers=errors),
        ],
        routes=[
            # Embedded dashboards.
            *data,  # served by DirectRoutes; here for the other methods' 405
            *DashboardApi(run.snapshots, guests).routes(),
            *EmbedPage(run.store, run.snapshots, EmbedAssets()).routes(),
            *SessionApi(
                guests,
                tickets=FixedWindowLimiter(
                    redis, prefix=prefix, name="ticket", limit=TICKETS_PER_TOKEN_PER_HOUR, window_seconds=3600
                ),
                max_body_bytes=config.max_request_bytes,
            ).routes(),
            # Host-app backends.
            Route("/oauth/token", TokenEndpoint(run.store, access_tokens).handle, methods=["POST"]),
            *GuestTokenApi(
                store=run.store,
                keys=run.keys,
                access_tokens=access_tokens,
                limiter=FixedWindowLimiter(
                    redis, prefix=prefix, name="mint", limit=config.mint_rate_limit_per_minute
                ),
                revocations=run.revocations,
                bus=run.bus,
                audit=run.audit,
                metrics=metrics,
                issuer=config.token_issuer,
                audience=config.token_audience,
                max_body_bytes=config.max_request_bytes,
            ).routes(),
            # Operators.
            *onboarding_api.routes(
                run.registry, max_bytes=config.max_request_bytes, admin_token=run.admin_token
            ),
            *_operations_routes(run),
        ],
        exception_handlers=errors,
        lifespan=run.lifespan,
    )


def _embed_sessions(run: Runtime) -> EmbedSessions:
    config = run.config
    store = (
        RedisSessionStore(run.redis, prefix=config.redis_prefix)
        if run.redis is not None
        else InProcessSessionStore()
    )
    sessions = EmbedSessions(
        store,
        secret_key=config.effective_secret_key().get_secret_value(),
        ticket_seconds=config.session_ticket_seconds,
        idle_seconds=config.session_idle_seconds,
        max_seconds=config.session_max_seconds,
    )
    run.revocations.add_listener(sessions.forget_revoked)
    return sessions


def _operations_routes(run: Runtime) -> list[BaseRoute]:
    """Probes, /metrics and /openapi.json."""
    metrics, redis = run.metrics, run.redis
    document = build_document(
        [onboarding_paths(), data_plane_paths(), metrics_openapi_section(), embed_openapi_section()]
    )

    async def openapi_json(_request: Request) -> Response:
        return JSONResponse(document)

    async def redis_ping() -> None:
        assert redis is not None
        try:
            await redis.ping()
        except (RedisError, OSError):
            metrics.redis_errors.inc()
            raise

    def observe_readiness(ready: bool) -> None:
        metrics.ready.set(1 if ready else 0)

    checks: dict[str, health.Check | None] = {
        "registry": run.store.ping,
        "redis": redis_ping if redis is not None else None,
    }
    if redis is not None:
        checks["events"] = run.follower.check_in_sync
    return [
        *health.routes(checks, timeout_seconds=run.config.redis_timeout_seconds, observe=observe_readiness),
        *metrics.routes(),
        Route("/openapi.json", openapi_json, methods=["GET"]),
    ]
