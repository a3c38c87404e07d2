"""Keeps this process's in-memory state in step with every other replica's writes.

It follows the `config` and `revocations` streams from start-up: a config event drops the
tenant's registry snapshot and reloads its keys and status; a revocation event is applied to
the revocation mirror. When the bus fails (Redis down) the revocation mirror is marked stale, so
guest tokens are refused with 503 until the follower has reconnected and re-synchronised: no
request is served on state that may have missed a revocation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Final

from gateway.events.bus import Event, EventBus, Stream, Subscription
from gateway.metrics import Metrics
from gateway.tenant_keys import TenantKeys
from gateway.tenant_snapshot import TenantSnapshots
from gateway.tokens.revocation import RedisRevocationStore, RevocationRecord, RevocationStore

logger = logging.getLogger("gateway.replica")
_MAX_BACKOFF_SECONDS: Final = 5.0


class Replica:
    def __init__(
        self,
        bus: EventBus,
        keys: TenantKeys,
        revocations: RevocationStore,
        snapshots: TenantSnapshots,
        *,
        metrics: Metrics | None = None,
    ) -> None:
        self._bus = bus
        self._metrics = metrics
        self._keys = keys
        self._snapshots = snapshots
        self._revocations = revocations
        self._subscription: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe before loading shared state, so nothing written meanwhile is missed."""
        self._subscription = self._bus.subscribe("config", "revocations")
        try:
            await self._subscription.ready()
            await self._resynchronise()
        except Exception:
            # Start anyway: the revocation mirror stays untrusted, requests fail closed, the follower retries.
            logger.exception("shared state unreachable at start; refusing guest tokens until it is back")
            self._mark_stale()
        self._task = asyncio.create_task(self._follow(self._subscription), name="replica-follower")

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.aclose()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _follow(self, subscription: Subscription) -> None:
        backoff = 0.1
        while True:
            try:
                async for stream, event in subscription:
                    await self._apply(stream, event)
                    backoff = 0.1
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning(
                    "event stream interrupted; guest tokens refused until it is back", exc_info=True
                )
                self._mark_stale()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)
                with contextlib.suppress(Exception):
                    await self._resynchronise()

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

    async def _resynchronise(self) -> None:
        # Whatever was cached may predate events that were missed: reload registry views on demand.
        self._snapshots.invalidate_all()
        if isinstance(self._revocations, RedisRevocationStore):
            await self._revocations.sync()

    def _mark_stale(self) -> None:
        if isinstance(self._revocations, RedisRevocationStore):
            self._revocations.mark_stale()
