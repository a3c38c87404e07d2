"""Consumer groups on the real Redis: entries shared, abandoned entries claimed, acknowledged ones gone."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from gateway.bus.consumer_group import ConsumerGroup, Delivery
from gateway.bus.events import Event
from gateway.bus.redis_streams import RedisStreamsBus
from tests.support.services import REDIS_URL

pytestmark = pytest.mark.anyio

CLAIM_IDLE_MS = 200


@pytest.fixture
def prefix() -> str:
    return f"t-{secrets.token_hex(6)}:"


@pytest.fixture
async def redis(prefix: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    yield client
    stale = [key async for key in client.scan_iter(match=f"{prefix}*")]
    if stale:
        await client.delete(*stale)
    await client.aclose()


@pytest.fixture
def bus(redis: Redis, prefix: str) -> RedisStreamsBus:
    return RedisStreamsBus(redis, prefix=prefix, read_timeout=2)


def consumer(redis: Redis, bus: RedisStreamsBus, name: str, **options: int) -> ConsumerGroup:
    return ConsumerGroup(
        redis, bus.key("audit"), "exporters", name, claim_idle_ms=CLAIM_IDLE_MS, block_ms=50, **options
    )


async def publish(bus: RedisStreamsBus, count: int) -> list[Event]:
    events = [Event("data.query", "acme", {"n": n}) for n in range(count)]
    for event in events:
        await bus.publish("audit", event)
    return events


async def drain(group: ConsumerGroup) -> list[Delivery]:
    """Everything `group` is handed until a read comes back empty."""
    received: list[Delivery] = []
    while batch := await group.read():
        received.extend(batch)
    return received


async def test_consumers_share_the_entries_without_duplicates(redis: Redis, bus: RedisStreamsBus) -> None:
    first, second = consumer(redis, bus, "a", count=7), consumer(redis, bus, "b", count=7)
    await first.ensure()
    await second.ensure()  # the group exists already: fine
    events = await publish(bus, 60)

    got_first, got_second = await asyncio.gather(drain(first), drain(second))

    ids = [d.event.id for d in got_first + got_second]
    assert sorted(ids) == sorted(e.id for e in events)
    assert len(set(ids)) == len(ids)
    assert got_first and got_second, "both consumers take a share"
    assert sorted((d.event for d in got_first + got_second), key=lambda e: e.id) == events
    assert all(isinstance(d.entry_id, str) and d.deliveries == 1 for d in got_first + got_second)


async def test_an_entry_a_dead_consumer_never_acknowledged_is_claimed_by_another(
    redis: Redis, bus: RedisStreamsBus
) -> None:
    dying, survivor = consumer(redis, bus, "dying"), consumer(redis, bus, "survivor")
    await dying.ensure()
    events = await publish(bus, 3)
    taken = await dying.read()
    assert [d.event.id for d in taken] == [e.id for e in events]
    # "dying" stops here without acknowledging anything.

    assert await survivor.read() == [], "not claimed before the idle time"
    await asyncio.sleep(CLAIM_IDLE_MS * 1.5 / 1000)
    claimed = await survivor.read()

    assert [d.entry_id for d in claimed] == [d.entry_id for d in taken]
    assert [d.event for d in claimed] == events
    assert all(d.deliveries == 2 for d in claimed), "a redelivery says so"


async def test_acknowledged_entries_never_come_back(redis: Redis, bus: RedisStreamsBus) -> None:
    first, second = consumer(redis, bus, "a"), consumer(redis, bus, "b")
    await first.ensure()
    events = await publish(bus, 4)
    taken = await first.read()
    await first.ack(*(d.entry_id for d in taken[:3]))

    await asyncio.sleep(CLAIM_IDLE_MS * 1.5 / 1000)
    claimed = await second.read()
    assert [d.event for d in claimed] == [events[3]], "only the unacknowledged entry comes back"
    await second.ack(claimed[0].entry_id)

    await asyncio.sleep(CLAIM_IDLE_MS * 1.5 / 1000)
    assert await drain(first) == []
    assert await drain(second) == []


async def test_an_entry_still_being_worked_on_is_kept_by_touching_it(
    redis: Redis, bus: RedisStreamsBus
) -> None:
    worker, other = consumer(redis, bus, "worker"), consumer(redis, bus, "other")
    await worker.ensure()
    await publish(bus, 1)
    (taken,) = await worker.read()

    for _ in range(4):
        await asyncio.sleep(CLAIM_IDLE_MS * 0.5 / 1000)
        await worker.touch(taken.entry_id)
        assert await other.read() == []


async def test_a_new_group_starts_at_the_end_of_the_stream_unless_told_otherwise(
    redis: Redis, bus: RedisStreamsBus
) -> None:
    before = await publish(bus, 2)
    latecomer = consumer(redis, bus, "late")
    await latecomer.ensure()
    after = await publish(bus, 1)
    assert [d.event for d in await drain(latecomer)] == after

    replay = ConsumerGroup(redis, bus.key("audit"), "replay", "r", block_ms=50)
    await replay.ensure(start="0")
    assert [d.event for d in await drain(replay)] == before + after


async def test_a_group_that_vanished_is_recreated(redis: Redis, bus: RedisStreamsBus) -> None:
    group = consumer(redis, bus, "a")
    await group.ensure()
    await redis.delete(bus.key("audit"))  # as after a Redis restart that lost its data

    assert await group.read() == []
    events = await publish(bus, 2)
    assert [d.event for d in await drain(group)] == events


async def test_an_unreadable_entry_is_skipped_and_acknowledged(redis: Redis, bus: RedisStreamsBus) -> None:
    group = consumer(redis, bus, "a")
    await group.ensure()
    await redis.xadd(bus.key("audit"), {"event": "not json"})
    events = await publish(bus, 1)

    assert [d.event for d in await drain(group)] == events
    pending = await redis.xpending(bus.key("audit"), "exporters")
    assert pending["pending"] == 1, "the readable entry awaits its acknowledgement, the unreadable does not"


async def test_an_abandoned_entry_behind_many_live_ones_is_still_claimed(
    redis: Redis, bus: RedisStreamsBus
) -> None:
    """XAUTOCLAIM looks at a bounded slice of the pending list per call (10 x count): the reader must
    go on past the entries other consumers are still working on rather than start over each time."""
    busy, dying = consumer(redis, bus, "busy", count=30), consumer(redis, bus, "dying")
    survivor = consumer(redis, bus, "survivor", count=2)
    await busy.ensure()
    await publish(bus, 30)
    working_on = [d.entry_id for d in await busy.read()]
    (abandoned,) = await publish(bus, 1)
    assert [d.event for d in await dying.read()] == [abandoned]
    await asyncio.sleep(CLAIM_IDLE_MS * 1.5 / 1000)

    claimed: list[Delivery] = []
    for _ in range(5):
        await busy.touch(*working_on)
        claimed = await survivor.read()
        if claimed:
            break
    assert [d.event for d in claimed] == [abandoned]
