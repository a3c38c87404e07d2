"""The event-bus interface: what every replica, exporter and webhook sender consumes.

Three streams: `config` (registry changes and key rotations), `revocations`, `audit`. The in-process
bus serves the single-process embedded mode; a Redis Streams bus implements the same protocol for
many replicas.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

Stream = Literal["config", "revocations", "audit"]
STREAMS: Final[tuple[Stream, ...]] = ("config", "revocations", "audit")
SCHEMA_VERSION: Final = 1
# What the audit stream carries: the event types operators (exporters, webhooks) subscribe to.
AUDIT_EVENT_TYPES: Final[tuple[str, ...]] = ("token.minted", "token.revoked", "data.query", "access.denied")


def _event_id() -> str:
    # Unique, not secret: the random module's generator (reseeded in every forked child) spares the
    # system call a data request would otherwise make for its audit event.
    return f"{time.time_ns():x}-{random.getrandbits(48):012x}"


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    tenant: str | None
    payload: Mapping[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=_event_id)
    time: float = field(default_factory=time.time)
    version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "tenant": self.tenant,
            "time": self.time,
            "version": self.version,
            "payload": dict(self.payload),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        data = json.loads(text)
        return cls(
            type=data["type"],
            tenant=data["tenant"],
            payload=data["payload"],
            id=data["id"],
            time=data["time"],
            version=data["version"],
        )


class Subscription(Protocol):
    async def ready(self) -> None:
        """Return once every event published from now on is sure to be delivered."""
        ...

    def __aiter__(self) -> AsyncIterator[tuple[Stream, Event]]: ...

    async def aclose(self) -> None: ...


class EventBus(Protocol):
    async def publish(self, stream: Stream, event: Event) -> None: ...

    async def publish_many(self, stream: Stream, events: Sequence[Event]) -> None:
        """`events` in order, in one round trip where the bus has one."""
        ...

    def subscribe(self, *streams: Stream) -> Subscription:
        """Every event published to `streams` from now on, in order, to this subscriber."""
        ...

    async def aclose(self) -> None: ...
