"""The in-process event bus: fan-out to every live subscription, for one process without Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from gateway.bus.events import Event, Stream

_CLOSED = object()


class InProcessSubscription:
    def __init__(self, bus: InProcessBus, streams: frozenset[Stream]) -> None:
        self._bus = bus
        self.streams = streams
        # Unbounded on purpose: dropping an invalidation would leave a replica serving stale filters.
        self._queue: asyncio.Queue[tuple[Stream, Event] | object] = asyncio.Queue()

    async def ready(self) -> None:
        """Delivery starts at subscribe() in-process; nothing to wait for."""

    def deliver(self, stream: Stream, event: Event) -> None:
        self._queue.put_nowait((stream, event))

    async def __aiter__(self) -> AsyncIterator[tuple[Stream, Event]]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED:
                return
            assert isinstance(item, tuple)
            yield item

    async def aclose(self) -> None:
        self._bus.unsubscribe(self)
        self._queue.put_nowait(_CLOSED)


class InProcessBus:
    def __init__(self) -> None:
        self._subscriptions: set[InProcessSubscription] = set()

    async def publish(self, stream: Stream, event: Event) -> None:
        await self.publish_many(stream, (event,))

    async def publish_many(self, stream: Stream, events: Sequence[Event]) -> None:
        for subscription in tuple(self._subscriptions):
            if stream in subscription.streams:
                for event in events:
                    subscription.deliver(stream, event)

    def subscribe(self, *streams: Stream) -> InProcessSubscription:
        subscription = InProcessSubscription(self, frozenset(streams))
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: InProcessSubscription) -> None:
        self._subscriptions.discard(subscription)

    async def aclose(self) -> None:
        for subscription in tuple(self._subscriptions):
            await subscription.aclose()
