"""The event bus on Redis Streams: every replica sees every event (broadcast, no consumer group).

A subscription remembers the last id it read per stream, so after a Redis error the caller can keep
iterating it and continue exactly where it stopped; events written meanwhile are not lost as long
as the stream has not been trimmed past them (or Redis restarted empty: see gateway.replica.follower).

Streams are trimmed on every publish, by length (`maxlen`) and by age (`max_age_seconds`), both
approximately: Redis then only drops whole internal nodes, which keeps trimming cheap.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Final

from redis.asyncio import Redis

from gateway.bus.events import Event, EventBus, Stream
from gateway.bus.memory import InProcessBus
from gateway.config import Config

# The one field of a stream entry: the event's JSON (consumer groups read it too).
EVENT_FIELD: Final = "event"
DEFAULT_MAXLEN: Final = 100_000
DEFAULT_MAX_AGE_SECONDS: Final = 7 * 24 * 3600.0
# XREAD from the very beginning of a stream.
_FIRST_ID: Final = "0-0"


def text_of(value: bytes | str) -> str:
    """A stream answer's id or key as text (redis-py hands back bytes unless told to decode)."""
    return value.decode() if isinstance(value, bytes) else value


class RedisStreamsSubscription:
    def __init__(
        self, redis: Redis, keys: dict[str, Stream], *, block_ms: int, from_start: bool = False
    ) -> None:
        self._redis = redis
        self._block_ms = block_ms
        self._streams = keys  # Redis key -> stream name
        self._last_ids: dict[str, str] | None = dict.fromkeys(keys, _FIRST_ID) if from_start else None
        self._pending: list[tuple[Stream, Event]] = []
        self._closed = False

    async def ready(self) -> None:
        """Pin the starting point: events published after this call will all be delivered.

        Once pinned, every call is a round trip to Redis, so a successful return also means that
        Redis answers now (what a replica needs before it re-synchronises after an outage).
        """
        if self._last_ids is not None:
            await self._redis.ping()
            return
        last_ids = {}
        for key in self._streams:
            newest: Any = await self._redis.xrevrange(key, count=1)
            last_ids[key] = text_of(newest[0][0]) if newest else _FIRST_ID
        self._last_ids = last_ids

    def __aiter__(self) -> RedisStreamsSubscription:
        return self

    async def __anext__(self) -> tuple[Stream, Event]:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            if self._last_ids is None:
                await self.ready()
            assert self._last_ids is not None
            # redis-py types stream answers loosely: [[key, [[id, {field: value}], ...]], ...]
            answer: Any = await self._redis.xread(self._last_ids, count=100, block=self._block_ms)  # type: ignore[arg-type]
            for key, entries in answer or ():
                name = text_of(key)
                for entry_id, fields in entries:
                    self._last_ids[name] = text_of(entry_id)
                    self._pending.append((self._streams[name], Event.from_json(fields[EVENT_FIELD.encode()])))
        return self._pending.pop(0)

    async def aclose(self) -> None:
        self._closed = True


class RedisStreamsBus:
    """`read_timeout` is the Redis client's socket timeout: a blocking read must return well within
    it, or an idle stream would look like a dead server. `max_age_seconds` 0 keeps events of any age."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        read_timeout: float,
        maxlen: int = DEFAULT_MAXLEN,
        max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS,
    ) -> None:
        if maxlen < 1 or max_age_seconds < 0:
            raise ValueError("maxlen must be positive and max_age_seconds not negative")
        self._redis = redis
        self._prefix = prefix
        self._maxlen = maxlen
        self._max_age_ms = int(max_age_seconds * 1000)
        self._block_ms = max(10, min(1000, int(read_timeout * 1000 / 2)))

    def key(self, stream: Stream) -> str:
        return f"{self._prefix}events:{stream}"

    async def publish(self, stream: Stream, event: Event) -> None:
        await self.publish_many(stream, (event,))

    async def publish_many(self, stream: Stream, events: Sequence[Event]) -> None:
        key = self.key(stream)
        async with self._redis.pipeline(transaction=False) as pipe:
            for event in events:
                pipe.xadd(key, {EVENT_FIELD: event.to_json()}, maxlen=self._maxlen, approximate=True)
            if self._max_age_ms:
                # XADD takes one trimming rule; the age rule follows in the same round trip. Entry ids
                # start with their insertion time in milliseconds, so the oldest id to keep is "now
                # minus age".
                pipe.xtrim(key, minid=f"{time.time_ns() // 1_000_000 - self._max_age_ms}-0", approximate=True)
            await pipe.execute()

    def subscribe(self, *streams: Stream, from_start: bool = False) -> RedisStreamsSubscription:
        """Every event published to `streams` from now on; with `from_start`, also those still kept."""
        return RedisStreamsSubscription(
            self._redis,
            {self.key(stream): stream for stream in streams},
            block_ms=self._block_ms,
            from_start=from_start,
        )

    async def aclose(self) -> None:
        """The Redis client belongs to the application; nothing of the bus's own to close."""


def configured_bus(config: Config, redis: Redis | None) -> EventBus:
    """The bus a process uses: Redis Streams with the configured trimming, or in process without Redis."""
    if redis is None:
        return InProcessBus()
    return RedisStreamsBus(
        redis,
        prefix=config.redis_prefix,
        read_timeout=config.redis_timeout_seconds,
        maxlen=config.events_maxlen,
        max_age_seconds=config.events_max_age_seconds,
    )
