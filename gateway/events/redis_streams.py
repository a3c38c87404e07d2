"""The event bus on Redis Streams: every replica sees every event (broadcast, no consumer group).

A subscription remembers the last id it read per stream, so after a Redis error the caller can keep
iterating it and continue exactly where it stopped; events written meanwhile are not lost as long
as the stream has not been trimmed past them.
"""

from __future__ import annotations

from typing import Any, Final

from redis.asyncio import Redis

from gateway.events.bus import Event, Stream

_FIELD: Final = "event"
DEFAULT_MAXLEN: Final = 100_000


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStreamsSubscription:
    def __init__(self, redis: Redis, keys: dict[str, Stream], *, block_ms: int) -> None:
        self._redis = redis
        self._block_ms = block_ms
        self._streams = keys  # Redis key -> stream name
        self._last_ids: dict[str, str] | None = None
        self._pending: list[tuple[Stream, Event]] = []
        self._closed = False

    async def ready(self) -> None:
        """Pin the starting point: events published after this call will all be delivered."""
        if self._last_ids is not None:
            return
        last_ids = {}
        for key in self._streams:
            newest: Any = await self._redis.xrevrange(key, count=1)
            last_ids[key] = _text(newest[0][0]) if newest else "0-0"
        self._last_ids = last_ids

    def __aiter__(self) -> RedisStreamsSubscription:
        return self

    async def __anext__(self) -> tuple[Stream, Event]:
        while not self._pending:
            if self._closed:
                raise StopAsyncIteration
            await self.ready()
            assert self._last_ids is not None
            # redis-py types stream answers loosely: [[key, [[id, {field: value}], ...]], ...]
            answer: Any = await self._redis.xread(self._last_ids, count=100, block=self._block_ms)  # type: ignore[arg-type]
            for key, entries in answer or ():
                name = _text(key)
                for entry_id, fields in entries:
                    self._last_ids[name] = _text(entry_id)
                    self._pending.append((self._streams[name], Event.from_json(fields[_FIELD.encode()])))
        return self._pending.pop(0)

    async def aclose(self) -> None:
        self._closed = True


class RedisStreamsBus:
    """`read_timeout` is the Redis client's socket timeout: a blocking read must return well within
    it, or an idle stream would look like a dead server."""

    def __init__(
        self, redis: Redis, *, prefix: str, read_timeout: float, maxlen: int = DEFAULT_MAXLEN
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        self._maxlen = maxlen
        self._block_ms = max(10, min(1000, int(read_timeout * 1000 / 2)))

    def key(self, stream: Stream) -> str:
        return f"{self._prefix}events:{stream}"

    async def publish(self, stream: Stream, event: Event) -> None:
        await self._redis.xadd(
            self.key(stream), {_FIELD: event.to_json()}, maxlen=self._maxlen, approximate=True
        )

    def subscribe(self, *streams: Stream) -> RedisStreamsSubscription:
        return RedisStreamsSubscription(
            self._redis, {self.key(stream): stream for stream in streams}, block_ms=self._block_ms
        )

    async def aclose(self) -> None:
        """The Redis client belongs to the application; nothing of the bus's own to close."""
