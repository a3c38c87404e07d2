"""What one gateway process holds for its whole life, and the order it opens and closes it in.

Nothing here answers a request: `Runtime.open(config)` builds the shared parts (no I/O), the app's
lifespan starts them and closes them in reverse, each step bounded so that a dependency hanging
while it closes cannot keep the process alive. `gateway.service.app` builds the endpoints on top.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from pydantic import SecretStr
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette

from gateway.bus.events import EventBus
from gateway.bus.redis_streams import RedisStreamsBus, configured_bus
from gateway.config import Config
from gateway.data.rewrite_pool import RewritePool
from gateway.edge.access_log import AccessLog
from gateway.events.audit_trail import AuditTrail
from gateway.events.webhooks.worker import WebhookWorker, webhook_worker
from gateway.replica.follower import Replica
from gateway.replica.keys import TenantKeys
from gateway.replica.snapshots import TenantSnapshots
from gateway.rls.rewrite import RewriteCache
from gateway.service.introspection import warehouse_introspection
from gateway.telemetry.metrics import Metrics
from gateway.tokens.revocation import InProcessRevocationStore, RedisRevocationStore, RevocationStore
from gateway.tokens.verify import TokenVerifier
from gateway.warehouse import Connectors
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.registry import Registry
from tenants.resources import WriteSettings
from tenants.store import RegistryStore

logger = logging.getLogger("gateway")

# Revocation records must outlive the longest token a tenant may be allowed (schemas: 1 day).
MAX_TOKEN_LIFETIME: Final = timedelta(days=1)
VERIFY_LEEWAY: Final = timedelta(seconds=10)
CLOSE_TIMEOUT_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class Runtime:
    """The registry, Redis, the event bus and what this replica keeps in step through it."""

    config: Config
    admin_token: SecretStr
    metrics: Metrics
    engine: AsyncEngine
    store: RegistryStore
    registry: Registry
    redis: Redis | None
    bus: EventBus
    audit: AuditTrail
    connectors: Connectors
    rewrites: RewritePool
    revocations: RevocationStore
    keys: TenantKeys
    snapshots: TenantSnapshots
    verifier: TokenVerifier
    follower: Replica
    webhooks: WebhookWorker | None
    access_log: AccessLog

    @classmethod
    def open(cls, config: Config) -> Runtime:
        metrics = Metrics()
        box = SecretBox(config.effective_secret_key().get_secret_value())
        engine = create_engine(config.database_url, timeout_seconds=config.database_timeout_seconds)
        sessions = session_factory(engine)
        store = RegistryStore(sessions, box)
        redis = _redis(config)
        bus = configured_bus(config, redis)
        connectors = Connectors()
        registry = Registry(
            sessions,
            box,
            bus,
            settings=WriteSettings(webhook_allow_private=config.webhook_allow_private),
            introspect=warehouse_introspection(connectors),
        )
        revocations = _revocations(config, redis)
        keys = TenantKeys(store)
        snapshots = TenantSnapshots(store)
        verifier = TokenVerifier(
            keys.keyring,
            audience=config.token_audience,
            issuer=config.token_issuer,
            tenant_status=keys.tenant_status,
            revocations=revocations,
            leeway=VERIFY_LEEWAY,
            max_lifetime=MAX_TOKEN_LIFETIME,
        )
        return cls(
            config=config,
            admin_token=_admin_token(config),
            metrics=metrics,
            engine=engine,
            store=store,
            registry=registry,
            redis=redis,
            bus=bus,
            audit=AuditTrail(bus, on_dropped=metrics.audit_events_dropped.inc),
            connectors=connectors,
            rewrites=RewritePool(RewriteCache(on_lookup=metrics.cache_lookup_counter("rewrite"))),
            revocations=revocations,
            keys=keys,
            snapshots=snapshots,
            verifier=verifier,
            follower=Replica(bus, store, keys, revocations, snapshots, metrics=metrics),
            webhooks=_webhooks(config, redis, bus, store),
            access_log=AccessLog(),
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        await migrate(self.engine)
        await self.follower.start()
        self.audit.start()
        if self.webhooks is not None:
            await self.webhooks.start()
        try:
            yield
        finally:
            self.access_log.flush()
            await _closed_within("audit trail", self.audit.aclose())
            if self.webhooks is not None:
                await _closed_within("webhook deliveries", self.webhooks.stop())
            await _closed_within("event follower", self.follower.stop())
            await _closed_within("warehouse connectors", self.connectors.aclose())
            self.rewrites.close()
            await _closed_within("event bus", self.bus.aclose())
            if self.redis is not None:
                await _closed_within("Redis", self.redis.aclose())
            await _closed_within("registry", self.engine.dispose())


def _admin_token(config: Config) -> SecretStr:
    if config.admin_token is not None:
        return config.admin_token
    # Development only (production refuses to start without one): random per process, never a default.
    logger.warning("GATEWAY_ADMIN_TOKEN is not set; the onboarding API uses a random token for this process")
    return SecretStr(secrets.token_urlsafe(32))


def _redis(config: Config) -> Redis | None:
    if not config.redis_url:
        return None
    return Redis.from_url(
        config.redis_url,
        socket_timeout=config.redis_timeout_seconds,
        socket_connect_timeout=config.redis_timeout_seconds,
    )


def _revocations(config: Config, redis: Redis | None) -> RevocationStore:
    record_ttl = MAX_TOKEN_LIFETIME + 2 * VERIFY_LEEWAY
    if redis is None:
        return InProcessRevocationStore(record_ttl=record_ttl)
    return RedisRevocationStore(
        redis, key_prefix=config.redis_prefix, record_ttl=record_ttl, fail_open=config.revocation_fail_open
    )


def _webhooks(
    config: Config, redis: Redis | None, bus: EventBus, store: RegistryStore
) -> WebhookWorker | None:
    # Webhooks need what only Redis offers: a consumer group, the dead-letter stream, delivery markers.
    if redis is not None and isinstance(bus, RedisStreamsBus):
        return webhook_worker(config, redis, bus, store)
    logger.warning("REDIS_URL is not set: webhooks are not delivered by a gateway without Redis")
    return None


async def _closed_within(what: str, closing: Awaitable[None]) -> None:
    try:
        await asyncio.wait_for(closing, CLOSE_TIMEOUT_SECONDS)
    except TimeoutError:
        logger.warning("closing the %s took more than %g s; left behind", what, CLOSE_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("closing the %s failed", what)
