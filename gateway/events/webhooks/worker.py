"""The delivery worker: every replica reads the audit stream in the consumer group `webhooks`.

Replicas share the audit entries; the entries of a replica that crashed are claimed by another once
they have been idle for the claim time (entries still being worked on are kept by touching them).
For each entry, every enabled webhook of the event's tenant subscribed to its type gets its own
delivery, retried with backoff without holding up the others. The entry is acknowledged once each of
its deliveries has succeeded or been dead-lettered; until then, a crash means another replica
delivers it again, which is why each finished delivery leaves a marker (webhook id, event id) in Redis
that keeps an endpoint from getting a successful POST twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
from collections.abc import Iterable
from datetime import timedelta
from typing import Final

import stamina
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

from gateway.bus.consumer_group import ConsumerGroup, Delivery
from gateway.bus.events import Event
from gateway.bus.redis_streams import RedisStreamsBus
from gateway.config import Config
from gateway.events.webhooks.backoff import RetryPolicy
from gateway.events.webhooks.sender import Attempt, WebhookSender
from tenants.store import RegistryStore, Webhook

logger = logging.getLogger("gateway.events.webhooks")

GROUP: Final = "webhooks"
# How long an endpoint is remembered to have had an event: far longer than a delivery's retries and a
# claim by another replica take, short enough that busy audit streams do not fill Redis with markers.
# (An entry left pending longer, with every replica down, may be delivered again: receivers dedupe by
# X-Gateway-Event-Id.)
MARKER_TTL: Final = timedelta(hours=1)
# Entries handled at once by one replica; beyond this it stops reading and leaves them to the others.
MAX_ENTRIES_IN_FLIGHT: Final = 1000


def _log_and_retry(error: BaseException) -> bool:
    # stamina hands this hook whatever ended the attempt, cancellation too: retrying that would keep
    # a stopped worker running.
    if not isinstance(error, Exception):
        return False
    logger.warning("webhook worker: audit stream or registry unreachable", exc_info=error)
    return True


# Reading never gives up while Redis or the registry is unreachable: it backs off from 0.1 s, doubling
# with jitter up to 5 s.
_until_it_succeeds: Final = stamina.AsyncRetryingCaller(
    attempts=None, timeout=None, wait_initial=0.1, wait_max=5.0
).on(_log_and_retry)


def dead_letter_key(prefix: str) -> str:
    return f"{prefix}events:webhooks-dead"


def webhook_worker(config: Config, redis: Redis, bus: RedisStreamsBus, store: RegistryStore) -> WebhookWorker:
    """The worker of this replica, as the settings describe it."""
    consumer = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
    group = ConsumerGroup(
        redis,
        bus.key("audit"),
        GROUP,
        consumer,
        claim_idle_ms=int(config.webhook_claim_idle_seconds * 1000),
        # A blocking read must return well within the Redis client's socket timeout.
        block_ms=max(10, min(1000, int(config.redis_timeout_seconds * 1000 / 2))),
    )
    return WebhookWorker(
        redis,
        group,
        store,
        WebhookSender(allow_private=config.webhook_allow_private),
        prefix=config.redis_prefix,
        policy=RetryPolicy(config.webhook_max_attempts, config.webhook_backoff_seconds),
        claim_idle_seconds=config.webhook_claim_idle_seconds,
        dead_letter_maxlen=config.events_maxlen,
    )


def subscribed(webhook: Webhook, event: Event) -> bool:
    return webhook.enabled and ("*" in webhook.event_types or event.type in webhook.event_types)


class WebhookWorker:
    def __init__(
        self,
        redis: Redis,
        group: ConsumerGroup,
        store: RegistryStore,
        sender: WebhookSender,
        *,
        prefix: str,
        policy: RetryPolicy,
        claim_idle_seconds: float,
        dead_letter_maxlen: int,
    ) -> None:
        self._redis = redis
        self._group = group
        self._store = store
        self._sender = sender
        self._prefix = prefix
        self._policy = policy
        self._touch_every = claim_idle_seconds / 3
        self._dead_letter_maxlen = dead_letter_maxlen
        self._entries: dict[str, asyncio.Task[None]] = {}  # entry id -> its deliveries
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self._sender.open()
        try:
            # Before serving, so the first audit events after start-up are already the group's.
            await self._group.ensure()
        except Exception:
            logger.warning("webhook consumer group not ready at start; retrying", exc_info=True)
        self._tasks = [
            asyncio.create_task(self._run(), name="webhook-reader"),
            asyncio.create_task(self._keep_entries(), name="webhook-entries-keeper"),
        ]

    async def stop(self) -> None:
        """Unfinished entries stay pending: another replica claims them after the claim time."""
        tasks = [*self._tasks, *self._entries.values()]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._sender.aclose()

    async def _run(self) -> None:
        await _until_it_succeeds(self._group.ensure)
        while True:
            if len(self._entries) >= MAX_ENTRIES_IN_FLIGHT:
                await asyncio.wait(self._entries.values(), return_when=asyncio.FIRST_COMPLETED)
                continue
            await _until_it_succeeds(self._take_entries)

    async def _take_entries(self) -> None:
        entries = [d for d in await self._group.read() if d.entry_id not in self._entries]
        # A failure here leaves the entries pending, to be claimed again after the claim time.
        webhooks = {tenant: await self._store.webhooks(tenant) for tenant in _tenants(entries)}
        nothing_to_do = []
        for entry in entries:
            targets = [w for w in webhooks.get(entry.event.tenant or "", ()) if subscribed(w, entry.event)]
            if not targets:
                nothing_to_do.append(entry.entry_id)
                continue
            task = asyncio.create_task(self._deliver_entry(entry, targets), name=f"webhook-{entry.entry_id}")
            self._entries[entry.entry_id] = task
            task.add_done_callback(functools.partial(self._forget, entry.entry_id))
        await self._group.ack(*nothing_to_do)

    def _forget(self, entry_id: str, _task: asyncio.Task[None]) -> None:
        self._entries.pop(entry_id, None)

    async def _keep_entries(self) -> None:
        while True:
            await asyncio.sleep(self._touch_every)
            try:
                await self._group.touch(*self._entries)
            except Exception:
                logger.warning("webhook worker: could not keep its entries", exc_info=True)

    async def _deliver_entry(self, entry: Delivery, targets: list[Webhook]) -> None:
        try:
            async with asyncio.TaskGroup() as deliveries:
                for webhook in targets:
                    deliveries.create_task(self._deliver(webhook, entry.event))
            await self._group.ack(entry.entry_id)
        except Exception:
            # Left pending: claimed and delivered again later; the markers skip what already succeeded.
            logger.warning("webhook delivery of entry %s interrupted", entry.entry_id, exc_info=True)

    async def _deliver(self, webhook: Webhook, event: Event) -> None:
        marker = f"{self._prefix}webhooks:done:{webhook.id}:{event.id}"
        if await self._redis.exists(marker):
            return
        attempts = 0
        while True:
            attempts += 1
            attempt = await self._sender.send(webhook, event)
            if attempt.succeeded:
                await self._redis.set(marker, "delivered", nx=True, ex=MARKER_TTL)
                return
            if attempt.forbidden is not None or attempts >= self._policy.max_attempts:
                await self._dead_letter(webhook, event, attempts, attempt)
                await self._redis.set(marker, "dead-lettered", nx=True, ex=MARKER_TTL)
                return
            await asyncio.sleep(self._policy.delay(attempts))

    async def _dead_letter(self, webhook: Webhook, event: Event, attempts: int, last: Attempt) -> None:
        logger.warning(
            "webhook %s of tenant %s gave up on event %s after %d attempts: %s",
            webhook.id,
            webhook.tenant_id,
            event.id,
            attempts,
            last.describe(),
        )
        fields: dict[FieldT, EncodableT] = {
            "event": event.to_json(),
            "webhook_id": str(webhook.id),
            "tenant": webhook.tenant_id,
            "attempts": str(attempts),
            "reason": "target_forbidden" if last.forbidden is not None else "attempts_exhausted",
            "last_status": "" if last.status is None else str(last.status),
            "last_error": last.error or last.forbidden or "",
        }
        await self._redis.xadd(
            dead_letter_key(self._prefix), fields, maxlen=self._dead_letter_maxlen, approximate=True
        )


def _tenants(entries: Iterable[Delivery]) -> set[str]:
    return {entry.event.tenant for entry in entries if entry.event.tenant is not None}
