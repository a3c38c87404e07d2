"""Audit events written behind the answers (gateway.events.audit_trail), on a real Redis: every event
recorded reaches the audit stream once and in order, in far fewer round trips than events, survives
an outage of Redis, and the backlog kept meanwhile is bounded."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, NamedTuple

import pytest
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from gateway.bus.events import Event, Stream
from gateway.bus.redis_streams import RedisStreamsBus
from gateway.events.audit_trail import AuditTrail
from tests.support.services import ThrowAwayRedis

pytestmark = pytest.mark.anyio


class Trail(NamedTuple):
    trail: AuditTrail
    redis: Redis
    key: str


class CountedBus(RedisStreamsBus):
    """The real Redis Streams bus, counting the round trips the trail asks of it."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        super().__init__(redis, prefix=prefix, read_timeout=1)
        self.round_trips = 0

    async def publish_many(self, stream: Stream, events: Sequence[Event]) -> None:
        self.round_trips += 1
        await super().publish_many(stream, events)


def event(n: int) -> Event:
    return Event("data.query", "tenant", {"n": n})


async def written(redis: Redis, key: str) -> list[int]:
    entries: Any = await redis.xrange(key)
    return [Event.from_json(fields[b"event"]).payload["n"] for _id, fields in entries]


async def until_written(redis: Redis, key: str, count: int, seconds: float = 15) -> list[int]:
    deadline = time.monotonic() + seconds
    while True:
        try:
            numbers = await written(redis, key)
        except RedisConnectionError:  # this test's own read, on a connection a Redis restart closed
            numbers = []
        if len(numbers) >= count:
            return numbers
        assert time.monotonic() < deadline, f"{len(numbers)} of {count} events written"
        await asyncio.sleep(0.02)


async def test_events_recorded_together_reach_the_stream_once_in_order_in_few_round_trips(
    redis: Redis, prefix: str
) -> None:
    bus = CountedBus(redis, prefix)
    trail = AuditTrail(bus, max_batch=100)
    trail.start()
    try:
        for n in range(1000):
            trail.record(event(n))
        assert await until_written(redis, bus.key("audit"), 1000) == list(range(1000))
        assert bus.round_trips == 10  # 1000 events recorded in one go, at most 100 per round trip
        trail.record(event(1000))  # idle again: an event leaves on its own, without waiting for company
        assert (await until_written(redis, bus.key("audit"), 1001))[-1] == 1000
        assert bus.round_trips == 11
    finally:
        await trail.aclose()


@contextlib.asynccontextmanager
async def trail_on(server: ThrowAwayRedis, prefix: str, **options: Any) -> AsyncIterator[Trail]:
    """A trail (not started) writing to `server`, and a client reading it back; closed afterwards."""
    redis = Redis.from_url(server.url, socket_timeout=1, socket_connect_timeout=1)
    bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=1)
    trail = AuditTrail(bus, **options)
    try:
        yield Trail(trail, redis, bus.key("audit"))
    finally:
        await trail.aclose()
        await redis.aclose()


async def test_events_recorded_while_redis_is_down_are_written_once_it_is_back(
    own_redis: ThrowAwayRedis, prefix: str
) -> None:
    async with trail_on(own_redis, prefix) as (trail, redis, key):
        trail.start()
        for n in range(10):
            trail.record(event(n))
        assert await until_written(redis, key, 10) == list(range(10))
        own_redis.stop()
        for n in range(10, 30):
            trail.record(event(n))
        await asyncio.sleep(0.5)  # the writer fails meanwhile and keeps the events
        assert trail.backlog == 20
        own_redis.start()  # empty: Redis keeps nothing on disk here
        assert await until_written(redis, key, 20) == list(range(10, 30))
        assert trail.backlog == 0


async def test_a_full_backlog_keeps_the_newest_events_and_counts_the_dropped(
    own_redis: ThrowAwayRedis, prefix: str
) -> None:
    dropped: list[int] = []
    async with trail_on(own_redis, prefix, max_batch=5, max_backlog=10, on_dropped=dropped.append) as (
        trail,
        redis,
        key,
    ):
        own_redis.stop()
        trail.start()
        for n in range(25):
            trail.record(event(n))
        await asyncio.sleep(0.3)  # at least one failed write, its batch kept at the front
        assert trail.backlog == 10 and sum(dropped) == 15
        own_redis.start()
        assert await until_written(redis, key, 10) == list(range(15, 25))


async def test_closing_writes_what_is_left(redis: Redis, prefix: str) -> None:
    bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=1)
    trail = AuditTrail(bus, max_batch=7)
    trail.start()
    for n in range(50):
        trail.record(event(n))
    await trail.aclose()  # before the writer had a turn
    assert await written(redis, bus.key("audit")) == list(range(50))
