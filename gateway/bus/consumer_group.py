"""At-least-once reading of one stream by a Redis consumer group: audit exporters, webhook senders.

Consumers of one group share the entries (each entry goes to one of them). An entry stays pending
until it is acknowledged; an entry pending longer than `claim_idle_ms` (its consumer died, or hangs)
is claimed by the next consumer that reads, so nothing read is lost to a crash. A consumer that
works on an entry for longer than that keeps it with `touch`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from gateway.bus.events import Event
from gateway.bus.redis_streams import EVENT_FIELD, text_of

logger = logging.getLogger("gateway.bus.consumer_group")


@dataclass(frozen=True, slots=True)
class Delivery:
    entry_id: str
    event: Event
    # How many times the group has handed this entry out, this time included: above 1 it is a redelivery.
    deliveries: int


class ConsumerGroup:
    def __init__(
        self,
        redis: Redis,
        stream_key: str,
        group: str,
        consumer: str,
        *,
        claim_idle_ms: int = 30_000,
        block_ms: int = 1000,
        count: int = 100,
    ) -> None:
        self._redis = redis
        self.stream_key = stream_key
        self.group = group
        self.consumer = consumer
        self._claim_idle_ms = claim_idle_ms
        self._block_ms = block_ms
        self._count = count
        # XAUTOCLAIM scans a bounded slice of the pending list per call: the next call goes on from
        # here (back to the start once it has gone round), so abandoned entries behind a long run of
        # entries still being worked on are reached too.
        self._claim_cursor = "0-0"

    async def ensure(self, start: str = "$") -> None:
        """Create the group (and the stream) if missing; `start` is where a new group begins reading."""
        try:
            await self._redis.xgroup_create(self.stream_key, self.group, id=start, mkstream=True)
        except ResponseError as error:
            if not str(error).startswith("BUSYGROUP"):
                raise

    async def read(self) -> list[Delivery]:
        """Abandoned entries (pending longer than `claim_idle_ms`, whoever had them) first, else new
        ones (blocking up to `block_ms`)."""
        try:
            claimed = await self._claim_abandoned()
            if claimed:
                return claimed
            return await self._read_new()
        except ResponseError as error:
            if not str(error).startswith("NOGROUP"):
                raise
        # The stream or the group vanished (Redis restarted empty, or the key was deleted): everything
        # in the stream now was written after that, so the recreated group starts from its beginning.
        logger.warning("consumer group %s on %s is gone; recreating it", self.group, self.stream_key)
        self._claim_cursor = "0-0"
        await self.ensure(start="0")
        return []

    async def ack(self, *entry_ids: str) -> None:
        if entry_ids:
            await self._redis.xack(self.stream_key, self.group, *entry_ids)

    async def touch(self, *entry_ids: str) -> None:
        """Reset the idle time of entries this consumer is still working on, so no one claims them."""
        if entry_ids:
            await self._redis.xclaim(
                self.stream_key, self.group, self.consumer, 0, list(entry_ids), justid=True
            )

    async def _claim_abandoned(self) -> list[Delivery]:
        # redis-py types stream answers loosely: [next_start, [[id, {field: value}], ...], deleted_ids]
        answer: Any = await self._redis.xautoclaim(
            self.stream_key,
            self.group,
            self.consumer,
            self._claim_idle_ms,
            self._claim_cursor,
            count=self._count,
        )
        self._claim_cursor = text_of(answer[0])
        entries = [(text_of(entry_id), fields) for entry_id, fields in answer[1] if fields]
        if not entries:
            return []
        counts = await self._delivery_counts([entry_id for entry_id, _ in entries])
        return await self._deliveries(entries, counts)

    async def _read_new(self) -> list[Delivery]:
        answer: Any = await self._redis.xreadgroup(
            self.group, self.consumer, {self.stream_key: ">"}, count=self._count, block=self._block_ms
        )
        entries = [(text_of(entry_id), fields) for _key, rows in answer or () for entry_id, fields in rows]
        return await self._deliveries(entries, {})

    async def _delivery_counts(self, entry_ids: list[str]) -> dict[str, int]:
        pending: Any = await self._redis.xpending_range(
            self.stream_key,
            self.group,
            min=entry_ids[0],
            max=entry_ids[-1],
            count=len(entry_ids),
            consumername=self.consumer,
        )
        return {text_of(row["message_id"]): int(row["times_delivered"]) for row in pending}

    async def _deliveries(self, entries: list[tuple[str, Any]], counts: dict[str, int]) -> list[Delivery]:
        deliveries, unreadable = [], []
        for entry_id, fields in entries:
            try:
                event = Event.from_json(fields[EVENT_FIELD.encode()])
            except (KeyError, ValueError, TypeError):
                unreadable.append(entry_id)
                continue
            deliveries.append(Delivery(entry_id, event, counts.get(entry_id, 1)))
        if unreadable:
            # Never readable, so they could only come back forever: acknowledged, and said so.
            logger.error("skipped unreadable entries %s of %s", unreadable, self.stream_key)
            await self.ack(*unreadable)
        return deliveries
