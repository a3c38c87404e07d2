"""`gateway events tail`, run as a user runs it (a subprocess) against the real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from typing import IO, Any

import pytest
from redis.asyncio import Redis

from gateway.bus.events import Event, Stream
from gateway.bus.redis_streams import RedisStreamsBus
from tests.conftest import Backend
from tests.support.gateways import gateway_env
from tests.support.services import REDIS_URL


class Tail:
    """`gateway events tail ...` in its own process; its output lines arrive on queues."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "events", "tail", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self.stdout = self._lines(self.process.stdout)
        self.stderr = self._lines(self.process.stderr)

    @staticmethod
    def _lines(stream: IO[str]) -> queue.Queue[str]:
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in stream], daemon=True).start()
        return lines

    def wait_until_following(self) -> None:
        """Until it says it follows the streams: from then on, every event published is printed."""
        said: list[str] = []
        deadline = time.monotonic() + 30
        while not (said and said[-1].startswith("following")):
            assert time.monotonic() < deadline, f"the tail did not start: {said}"
            with contextlib.suppress(queue.Empty):
                said.append(self.stderr.get(timeout=1))

    def events(self, count: int) -> list[dict[str, Any]]:
        return [json.loads(self.stdout.get(timeout=30)) for _ in range(count)]

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=10)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def publish(prefix: str, *events: tuple[Stream, Event]) -> None:
    async def send() -> None:
        async with Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=5) as redis:
            bus = RedisStreamsBus(redis, prefix=prefix, read_timeout=2)
            for stream, event in events:
                await bus.publish(stream, event)

    asyncio.run(send())


def as_printed(stream: Stream, event: Event) -> dict[str, Any]:
    return {"stream": stream, **json.loads(event.to_json())}


def test_without_redis_it_says_why_it_cannot_watch() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "events", "tail"],
        env=gateway_env(None),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "REDIS_URL" in done.stderr and "in-process" in done.stderr
    assert done.stdout == ""


def test_it_prints_the_chosen_streams_live_until_ctrl_c(prefix: str) -> None:
    tail = Tail(
        gateway_env(None, REDIS_URL=REDIS_URL, GATEWAY_REDIS_PREFIX=prefix),
        "--stream",
        "audit",
        "--stream",
        "config",
    )
    try:
        tail.wait_until_following()
        sent: list[tuple[Stream, Event]] = [
            ("audit", Event("token.minted", "t1", {"sub": "alice"})),
            ("revocations", Event("token.revoked", "t1", {"record": "{}"})),
            ("config", Event("filter.updated", "t2", {"registry_version": 7})),
            ("audit", Event("data.query", "t2", {"rows": 3})),
        ]
        publish(prefix, *sent)
        printed = tail.events(3)
        # Each stream's events in order; streams read together have no order between them.
        for stream in ("audit", "config"):
            expected = [as_printed(*item) for item in sent if item[0] == stream]
            assert [event for event in printed if event["stream"] == stream] == expected
        assert len(printed) == 3  # nothing from `revocations`
        assert tail.interrupt() == 0
        assert tail.stdout.empty()
    finally:
        tail.kill()


@pytest.mark.anyio
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_from_start_and_one_tenant_named_by_its_slug(
    prefix: str, backend: Backend, database_url: str
) -> None:
    acme = await backend.create("tenants", None, {"slug": "acme", "name": "Acme", "origins": []})
    other = await backend.create("tenants", None, {"slug": "globex", "name": "Globex", "origins": []})
    earlier = [
        ("audit", Event("token.minted", acme["id"], {"n": 1})),
        ("audit", Event("token.minted", other["id"], {"n": 2})),
        ("config", Event("tenant.updated", acme["id"], {"registry_version": 2})),
    ]
    await asyncio.to_thread(publish, prefix, *earlier)
    env = gateway_env(database_url, REDIS_URL=REDIS_URL, GATEWAY_REDIS_PREFIX=prefix)
    tail = Tail(env, "--from-start", "--tenant", "acme")
    try:
        await asyncio.to_thread(tail.wait_until_following)
        later = ("revocations", Event("token.revoked", acme["id"], {"record": "{}"}))
        await asyncio.to_thread(publish, prefix, later, ("audit", Event("data.query", other["id"], {})))
        printed = await asyncio.to_thread(tail.events, 3)
        # Streams are read side by side: the order holds within each stream.
        assert sorted(printed, key=lambda e: (e["stream"], e["time"])) == sorted(
            [as_printed(*earlier[0]), as_printed(*earlier[2]), as_printed(*later)],
            key=lambda e: (e["stream"], e["time"]),
        )
        assert tail.interrupt() == 0
        assert tail.stdout.empty()
    finally:
        tail.kill()

    unknown = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "gateway", "events", "tail", "--tenant", "nobody"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert unknown.returncode == 2
    assert "no tenant 'nobody'" in unknown.stderr
