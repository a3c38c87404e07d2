"""The event streams are trimmed as configured (GATEWAY_EVENTS_MAXLEN, GATEWAY_EVENTS_MAX_AGE_SECONDS), on
the real Redis. Trimming is approximate (Redis drops whole internal nodes, up to 100 entries each), so the
bounds below allow one node of slack and no more."""

from __future__ import annotations

import time
from typing import Any, Final

import pytest
from redis.asyncio import Redis

from gateway.bus.events import Event
from gateway.bus.redis_streams import RedisStreamsBus

pytestmark = pytest.mark.anyio
NODE: Final = 100  # Redis's default stream-node-max-entries
DAY_MS: Final = 24 * 3600 * 1000


def numbers(entries: Any) -> list[int]:
    return [Event.from_json(fields[b"event"]).payload["n"] for _id, fields in entries]


async def publish(bus: RedisStreamsBus, count: int) -> None:
    for n in range(count):
        await bus.publish("audit", Event("data.query", "tenant", {"n": n}))


async def test_a_stream_is_kept_to_about_maxlen_entries_the_newest_ones(redis: Redis, prefix: str) -> None:
    bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=2, maxlen=50)
    await publish(bus, 1000)
    kept = numbers(await redis.xrange(bus.key("audit")))
    assert 50 <= len(kept) <= 50 + NODE
    assert kept == list(range(1000 - len(kept), 1000))


async def test_events_older_than_the_max_age_are_dropped(redis: Redis, prefix: str) -> None:
    bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=2, max_age_seconds=7 * 24 * 3600)
    key = bus.key("audit")
    await write_old_entries(redis, key, days_ago=8, count=1000)
    await publish(bus, 10)
    kept = await redis.xrange(key)
    old = [entry_id for entry_id, _fields in kept if int(entry_id.split(b"-")[0]) < now_ms() - DAY_MS]
    assert len(old) <= NODE
    assert numbers(kept[len(old) :]) == list(range(10))


async def test_a_max_age_of_zero_keeps_events_of_any_age(redis: Redis, prefix: str) -> None:
    bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=2, max_age_seconds=0)
    key = bus.key("audit")
    await write_old_entries(redis, key, days_ago=400, count=300)
    await publish(bus, 10)
    assert await redis.xlen(key) == 310


async def write_old_entries(redis: Redis, key: str, *, days_ago: int, count: int) -> None:
    """Entries as a gateway would have written them `days_ago` days ago (ids carry the time)."""
    start = now_ms() - days_ago * DAY_MS
    for n in range(count):
        await redis.xadd(
            key, {"event": Event("data.query", "tenant", {"n": -1}).to_json()}, id=f"{start + n}-0"
        )


def now_ms() -> int:
    return time.time_ns() // 1_000_000
