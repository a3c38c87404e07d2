"""Keeps this process's in-memory state in step with every other replica's writes.

It follows the `config` and `revocations` streams from start-up: a config event drops the
tenant's registry snapshot and reloads its keys and status; a revocation event is applied to
the revocation mirror.

When the feed breaks (Redis down, or restarted, maybe empty) events may have been missed for good:
a registry write commits even when its event cannot be published. The replica is then out of sync
and fails closed (the revocation mirror is marked stale, so guest tokens get 503) until it has
re-synchronised, in this order:

1. Redis answers again: from here on every event published reaches this replica;
2. every tenant's registry version is read, and exactly the snapshots and keys cached at another
   version (or of tenants gone) are dropped and reloaded: whatever was written before step 1 shows
   in these versions, whatever is written after arrives as an event;
3. the revocation mirror is re-read from Redis, and only then trusted again.

A process started while Redis is down goes through the same steps before it serves a guest token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

from gateway.bus.events import Event, EventBus, Stream, Subscription
from gateway.replica.keys import TenantKeys
from gateway.replica.snapshots import TenantSnapshots
from gateway.telemetry.metrics import Metrics
from gateway.tokens.revocation import RedisRevocationStore, RevocationRecord, RevocationStore
from tenants.store import RegistryStore

logger = logging.getLogger("gateway.replica.follower")
_MAX_BACKOFF_SECONDS: Final = 5.0
_FIRST_BACKOFF_SECONDS: Final = 0.1


class Replica:
    def __init__(
        self,
        bus: EventBus,
        store: RegistryStore,
        keys: TenantKeys,
        revocations: RevocationStore,
        snapshots: TenantSnapshots,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._bus = bus
        self._store = store
        self._metrics = metrics
        self._keys = keys
        self._snapshots = snapshots
        self._revocations = revocations
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None
        # Whether this replica's state is known to reflect every write so far (else it fails closed).
        self._in_sync = False

    async def start(self) -> None:
        """Subscribe before loading shared state, so nothing written meanwhile is missed."""
        self._subscription = self._bus.subscribe("config", "revocations")
        try:
            await self._resynchronise(self._subscription)
        except Exception:
            # Start anyway: requests fail closed while the follower retries.
            logger.exception("shared state unreachable at start; refusing guest tokens until it is back")
            self._lose_sync()
        self._task = asyncio.create_task(self._follow(self._subscription), name="replica-follower")

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self, subscription: Subscription) -> None:
        backoff = _FIRST_BACKOFF_SECONDS
        while True:
            try:
                if not self._in_sync:
                    await self._resynchronise(subscription)
                    if not self._in_sync:
                        raise RuntimeError("the revocation mirror went stale while re-synchronising")
                    logger.info("re-synchronised with the registry and Redis; serving guest tokens again")
                    backoff = _FIRST_BACKOFF_SECONDS
                async for stream, event in subscription:
                    await self._apply(stream, event)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if self._in_sync:
                    logger.warning(
                        "event stream interrupted; guest tokens refused until re-synchronised", exc_info=True
                    )
                self._lose_sync()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _apply(self, stream: Stream, event: Event) -> None:
        if self._metrics is not None:
            self._metrics.event_lag.set(max(0.0, time.time() - event.time))
        if stream == "revocations":
            self._revocations.apply(RevocationRecord.from_json(event.payload["record"]))
            return
        if event.tenant is None:
            return
        self._snapshots.invalidate(event.tenant)
        if event.type.startswith(("tenant.", "key.")):
            await self._keys.load_tenant(event.tenant)

    async def _resynchronise(self, subscription: Subscription) -> None:
        """Steps 1 to 3 of the module's docstring; raises (leaving the replica out of sync) on failure."""
        await subscription.ready()
        versions = await self._store.registry_versions()
        dropped = self._snapshots.reconcile(versions)
        await self._keys.reconcile(versions)
        if dropped:
            logger.info("dropped the registry snapshots of %d tenant(s) changed meanwhile", len(dropped))
        if isinstance(self._revocations, RedisRevocationStore):
            await self._revocations.sync()
            self._in_sync = self._revocations.trusted
        else:
            self._in_sync = True

    async def check_in_sync(self) -> None:
        """Readiness: raises while this replica may have missed events (it refuses guest tokens then),
        so load balancers send its traffic elsewhere."""
        if not self._in_sync:
            raise RuntimeError("the replica is re-synchronising with the event streams")

    def _lose_sync(self) -> None:
        self._in_sync = False
        if isinstance(self._revocations, RedisRevocationStore):
            self._revocations.mark_stale()
