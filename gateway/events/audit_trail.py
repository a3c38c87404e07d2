"""Audit events written behind the answers that made them, many to one round trip.

Published one by one, a data request's `data.query` event cost a Redis round trip of its own, most
of the CPU of a chart answered from the cache (`python bench/data.py --redis-url ...` on two cores:
4.0k requests/s, against 11-12k without Redis; 7.7k with this trail). The trail takes an event
without waiting; one writer task sends whatever has gathered since its last write as one
`publish_many` (one pipeline, one trim), at most one write per few milliseconds: idle, an event
leaves at once; busy, the events of many requests leave together.

Delivery is at least once: a batch that fails stays at the front of the backlog and is tried again
after a pause, so a batch Redis took in part repeats some events (consumers dedupe by event id, as
webhooks do). While Redis is away the backlog holds at most `max_backlog` events (and what arrives
during one write); past that the oldest are dropped and counted. On close, what is left is written
once more.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Callable
from typing import Final

from gateway.bus.events import Event, EventBus

logger = logging.getLogger("gateway.events")

MAX_BATCH: Final = 500
MAX_BACKLOG: Final = 100_000
# After a write, the writer lets events gather this long: under load it then wakes a few hundred times
# a second rather than on every turn of the event loop, each write carrying more events.
_GATHER_SECONDS: Final = 0.005
_FIRST_PAUSE_SECONDS: Final = 0.1
_MAX_PAUSE_SECONDS: Final = 5.0


class AuditTrail:
    def __init__(
        self,
        bus: EventBus,
        *,
        max_batch: int = MAX_BATCH,
        max_backlog: int = MAX_BACKLOG,
        on_dropped: Callable[[int], None] | None = None,
    ) -> None:
        if max_batch < 1 or max_backlog < max_batch:
            raise ValueError("max_batch must be positive and max_backlog at least max_batch")
        self._bus = bus
        self._max_batch = max_batch
        self._max_backlog = max_backlog
        self._on_dropped = on_dropped
        self._backlog: deque[Event] = deque()
        self._wake = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None
        self._writing = False
        self._dropping = False  # logged once per outage, counted always

    @property
    def backlog(self) -> int:
        """Events recorded and not yet written."""
        return len(self._backlog)

    def record(self, event: Event) -> None:
        """Queue `event` for the audit stream; never waits and never raises."""
        self._backlog.append(event)
        if not self._writing:
            self._bound()
        self._wake.set()

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_forever(), name="audit-trail-writer")

    async def aclose(self) -> None:
        """Stop the writer, then write what is left (one attempt per batch)."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer
            self._writer = None
        while self._backlog:
            if not await self._write_batch():
                logger.error("%d audit events could not be written before shutting down", len(self._backlog))
                return

    async def _write_forever(self) -> None:
        pause = _FIRST_PAUSE_SECONDS
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._backlog:
                if await self._write_batch():
                    pause = _FIRST_PAUSE_SECONDS
                else:
                    await asyncio.sleep(pause)
                    pause = min(_MAX_PAUSE_SECONDS, pause * 2)
            await asyncio.sleep(_GATHER_SECONDS)

    async def _write_batch(self) -> bool:
        """Write the oldest events; they leave the backlog only once Redis has taken them.

        Nothing is dropped while a write is in flight, so the events written are exactly the ones at
        the front; the bound is applied again as soon as the write is over.
        """
        batch = list(itertools.islice(self._backlog, self._max_batch))
        self._writing = True
        try:
            await self._bus.publish_many("audit", batch)
        except Exception:
            logger.warning("could not write %d audit events; trying again", len(batch), exc_info=True)
            return False
        else:
            for _ in batch:
                self._backlog.popleft()
            self._dropping = False
            return True
        finally:
            self._writing = False
            self._bound()

    def _bound(self) -> None:
        excess = len(self._backlog) - self._max_backlog
        if excess <= 0:
            return
        for _ in range(excess):
            self._backlog.popleft()
        if not self._dropping:
            self._dropping = True
            logger.error(
                "audit backlog full (%d events): dropping the oldest until Redis takes them",
                self._max_backlog,
            )
        if self._on_dropped is not None:
            self._on_dropped(excess)
