"""Event propagation and audit throughput on the Redis Streams bus.

Run: python bench/events.py [--changes 200] [--replicas 3] [--audit-events 20000]

Uses REDIS_URL (default redis://127.0.0.1:6379/0) under a fresh key prefix, and the PostgreSQL server of
GATEWAY_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test), on which it makes a scratch
registry database, dropped at the end; the Redis keys are deleted too.

- propagation: `--replicas` separate OS processes each run the gateway's real replica
  (`gateway.replica.follower`: the follower of the `config` stream, with its registry snapshots, keys
  and revocation mirror) and print the moment they invalidate the tenant's snapshot; the parent changes
  one base filter through the registry (`tenants.registry`, which commits, bumps the version and
  publishes) `--changes` times, one after another, and takes for each the time from just before the
  write to the LAST replica's invalidation. Same machine, same clock (time.time()).
- audit throughput: `--audit-events` `data.query` events published to the `audit` stream by one
  publisher awaiting each (as one request does), then with 64 in flight (as concurrent requests do),
  then read back and acknowledged through a consumer group (`gateway.bus.consumer_group`).

Target (issue 7): every replica acts on a change within 1 s; the figures say how far below that it is.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from redis.asyncio import Redis

from gateway.bus.consumer_group import ConsumerGroup
from gateway.bus.events import Event
from gateway.bus.redis_streams import RedisStreamsBus
from gateway.config import Config
from gateway.http.bodies import validate
from gateway.replica.follower import Replica
from gateway.replica.keys import TenantKeys
from gateway.replica.snapshots import TenantSnapshots
from gateway.tokens.revocation import RedisRevocationStore
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.registry import Registry
from tenants.resources import NESTED, TENANTS, Resource
from tenants.store import RegistryStore

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = secrets.token_urlsafe(48)  # the scratch registry's encryption key, shared with the replicas
TIMEOUT = 5.0  # seconds, for every Redis and registry call
RESOURCES: dict[str, Resource] = {r.collection: r for r in NESTED}
IN_FLIGHT = 64


# ------------------------------------------------------------------------------------------- replica


class ReportingSnapshots(TenantSnapshots):
    """The replica's snapshots, telling the parent (on stdout) when it drops a tenant's."""

    def invalidate(self, tenant_id: str) -> None:
        super().invalidate(tenant_id)
        print(f"{time.time()!r} {tenant_id}", flush=True)


async def replica(redis_url: str, database_url: str, prefix: str, tenant_id: str) -> None:
    """One replica, until the parent closes our stdin."""
    config = Config.from_env({"GATEWAY_DATABASE_URL": database_url})
    engine = create_engine(config.database_url, timeout_seconds=TIMEOUT)
    redis = Redis.from_url(redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    store = RegistryStore(session_factory(engine), SecretBox(SECRET))
    snapshots = ReportingSnapshots(store)
    revocations = RedisRevocationStore(redis, key_prefix=prefix, record_ttl=86_400)
    bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=TIMEOUT)
    follower = Replica(bus, store, TenantKeys(store), revocations, snapshots)
    await follower.start()
    await snapshots.active(tenant_id)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await follower.stop()
    await redis.aclose()
    await engine.dispose()


class ReplicaProcess:
    def __init__(self, redis_url: str, database_url: str, prefix: str, tenant_id: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--replica", redis_url, database_url, prefix, tenant_id],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def readline(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a replica exited with {self.process.wait()}")
        return line.strip()

    def wait_ready(self) -> None:
        while self.readline() != "ready":
            pass  # invalidations made while it started

    def invalidated_at(self) -> float:
        return float(self.readline().split()[0])

    def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -------------------------------------------------------------------------------------- the parent


@contextlib.asynccontextmanager
async def scratch_database(server_url: str) -> AsyncIterator[str]:
    name = f"gw_bench_{secrets.token_hex(6)}"
    admin = urlunsplit(urlsplit(server_url)._replace(scheme="postgresql"))
    connection = await asyncpg.connect(admin, timeout=TIMEOUT)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield urlunsplit(urlsplit(admin)._replace(path="/" + name))
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def create(registry: Registry, collection: str, tenant: str | None, body: dict[str, Any]) -> Any:
    resource = TENANTS if collection == "tenants" else RESOURCES[collection]
    assert resource.create_body is not None
    outcome = await registry.create(
        resource, tenant, validate(resource.create_body, body), location_prefix="/"
    )
    assert outcome.body is not None
    return outcome.body


async def propagation(
    redis: Redis, database_url: str, redis_url: str, prefix: str, args: Any
) -> tuple[list[float], list[float]]:
    config = Config.from_env({"GATEWAY_DATABASE_URL": database_url})
    engine = create_engine(config.database_url, timeout_seconds=TIMEOUT)
    try:
        await migrate(engine)
        bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=TIMEOUT)
        registry = Registry(session_factory(engine), SecretBox(SECRET), bus)
        tenant = await create(registry, "tenants", None, {"slug": "bench", "name": "Bench"})
        await create(registry, "warehouses", "bench", {"name": "main", "url": "postgresql://r@db.invalid/x"})
        columns = [{"name": "tenant_id", "type": "INTEGER"}, {"name": "amount", "type": "NUMERIC"}]
        await create(
            registry,
            "datasets",
            "bench",
            {"name": "orders", "warehouse": "main", "table": "orders", "columns": columns},
        )
        row_filter = await create(
            registry,
            "filters",
            "bench",
            {"name": "isolation", "dataset": "orders", "clause": "tenant_id = 0"},
        )
        filters = RESOURCES["filters"]
        assert filters.update_body is not None
        replicas = [
            ReplicaProcess(redis_url, database_url, prefix, tenant["id"]) for _ in range(args.replicas)
        ]
        try:
            for process in replicas:
                process.wait_ready()
            latencies, writes = [], []
            for change in range(1, args.changes + 1):
                body = validate(filters.update_body, {"clause": f"tenant_id = {change}"})
                started = time.time()
                await registry.update(filters, "bench", str(row_filter["id"]), body, if_match=None)
                writes.append(time.time() - started)
                invalidated = await asyncio.gather(*(asyncio.to_thread(p.invalidated_at) for p in replicas))
                latencies.append(max(invalidated) - started)
            return latencies, writes
        finally:
            for process in replicas:
                process.stop()
    finally:
        await engine.dispose()


async def audit_throughput(redis: Redis, prefix: str, count: int) -> dict[str, float]:
    bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=TIMEOUT)
    group = ConsumerGroup(redis, bus.key("audit"), "bench", "reader", block_ms=100, count=500)
    await group.ensure(start="$")
    events = [
        Event("data.query", "bench", {"dataset": "orders", "rows": n, "ms": 1.5}) for n in range(2 * count)
    ]

    started = time.perf_counter()
    for event in events[:count]:
        await bus.publish("audit", event)
    sequential = count / (time.perf_counter() - started)

    started = time.perf_counter()
    pending = iter(events[count:])

    async def publisher() -> None:
        for event in pending:
            await bus.publish("audit", event)

    await asyncio.gather(*(publisher() for _ in range(IN_FLIGHT)))
    concurrent = count / (time.perf_counter() - started)

    started, consumed = time.perf_counter(), 0
    while consumed < 2 * count:
        deliveries = await group.read()
        if not deliveries:
            raise RuntimeError(f"the consumer group stopped after {consumed} of {2 * count} events")
        await group.ack(*(d.entry_id for d in deliveries))
        consumed += len(deliveries)
    consumed_rate = consumed / (time.perf_counter() - started)
    return {"sequential": sequential, "concurrent": concurrent, "consumed": consumed_rate}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def main(args: argparse.Namespace) -> None:
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    prefix = f"bench-{secrets.token_hex(4)}:"
    redis = Redis.from_url(redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
    try:
        async with scratch_database(
            os.environ.get("GATEWAY_DATABASE_URL") or DEFAULT_DATABASE_URL
        ) as database_url:
            latencies, writes = await propagation(redis, database_url, redis_url, prefix, args)
        audit = await audit_throughput(redis, prefix, args.audit_events)
    finally:
        stale = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if stale:
            await redis.delete(*stale)
        await redis.aclose()

    ms = [1000 * value for value in latencies]
    p50, p99 = percentile(ms, 0.50), percentile(ms, 0.99)
    print(f"propagation, registry write -> last of {args.replicas} replicas invalidated ({len(ms)} changes):")
    print(
        f"  p50 {p50:.2f} ms   p99 {p99:.2f} ms   max {max(ms):.2f} ms   mean {statistics.fmean(ms):.2f} ms"
    )
    print(f"  p99 / p50: {p99 / p50:.1f}x   the 1 s target / p99: {1000 / p99:.0f}x")
    write_p50 = 1000 * percentile(writes, 0.50)
    print(
        f"  the write call alone (commit, then publish): p50 {write_p50:.2f} ms ({write_p50 / p50:.0%} of the"
        " above: replicas often invalidate before the writer's publish call has returned)"
    )
    print(f"audit throughput ({args.audit_events} events each):")
    print(f"  publish, one at a time:     {audit['sequential']:10.0f} events/s")
    print(
        f"  publish, {IN_FLIGHT} in flight:       {audit['concurrent']:10.0f} events/s"
        f"   ({audit['concurrent'] / audit['sequential']:.1f}x one at a time)"
    )
    print(
        f"  consumer group, read + ack: {audit['consumed']:10.0f} events/s"
        f"   ({audit['consumed'] / audit['concurrent']:.1f}x the concurrent publish rate)"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--replica"]:
        asyncio.run(replica(*sys.argv[2:6]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--audit-events", type=int, default=20_000)
    asyncio.run(main(parser.parse_args()))
