"""Revocation of guest tokens: by `jti`, by `sub`, or every token of a tenant issued before a time.

The verifier asks `is_revoked` on every request, so the answer always comes from memory (three dictionary
lookups, no I/O). Two stores share that in-memory state and differ in where a revocation is kept:

- `InProcessRevocationStore`: memory only (single process, tests).
- `RedisRevocationStore`: writes through to one Redis sorted set shared by every replica, loads it with
  `sync()`, and takes records published by other replicas through `apply()`. While its memory cannot be
  trusted (never synced, or a Redis error since), `is_revoked` raises `RevocationUnavailable` (HTTP 503),
  unless the operator chose `fail_open=True`.

Every record lives `record_ttl` seconds: pass the longest token life plus the verifier's leeway, after which
every token the record could refuse has expired anyway.
"""

from __future__ import annotations

import json
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Final, Literal, cast, get_args

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.tokens.claims import is_numeric_date
from gateway.tokens.durations import seconds
from gateway.tokens.errors import RevocationUnavailable

RevocationKind = Literal["token", "subject", "issued_before"]
_KINDS: Final[frozenset[str]] = frozenset(get_args(RevocationKind))

RevocationListener = Callable[["RevocationRecord"], None]
"""Told every record that changed what a store refuses (the verifier purges its cache with it)."""

_PRUNE_INTERVAL_SECONDS: Final = 60.0


@dataclass(frozen=True, slots=True)
class RevocationRecord:
    """One revocation. `subject` is the `jti` or `sub` revoked, empty for `issued_before`.

    `at` is when it was revoked (for `issued_before`, the cutoff): a `subject` record refuses that user's
    tokens issued at or before `at`; an `issued_before` record refuses the tenant's tokens issued before it.
    """

    kind: RevocationKind
    tenant_id: str
    subject: str
    at: float
    expires_at: float

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> RevocationRecord:
        """Parse a record written by `to_json`; raises `ValueError` for anything else."""
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) != {"kind", "tenant_id", "subject", "at", "expires_at"}:
            raise ValueError("not a revocation record")
        kind, tenant_id, subject, at, expires_at = (
            data["kind"],
            data["tenant_id"],
            data["subject"],
            data["at"],
            data["expires_at"],
        )
        if (
            kind not in _KINDS
            or not isinstance(tenant_id, str)
            or not tenant_id
            or not isinstance(subject, str)
            or (kind == "issued_before") != (subject == "")
            or not all(is_numeric_date(value) for value in (at, expires_at))
        ):
            raise ValueError("not a revocation record")
        return cls(cast(RevocationKind, kind), tenant_id, subject, float(at), float(expires_at))

    @property
    def _slot(self) -> tuple[str, str, str]:
        return (self.kind, self.tenant_id, self.subject)


class RevocationStore(ABC):
    """In-memory revocation state plus the write path; subclasses decide where records persist."""

    def __init__(self, *, record_ttl: float | timedelta, clock: Callable[[], float] = time.time) -> None:
        self._record_ttl = seconds(record_ttl, name="record_ttl", minimum=1.0)
        self._clock = clock
        # (kind, tenant, subject) -> the record with the latest `at` for that slot
        self._records: dict[tuple[str, str, str], RevocationRecord] = {}
        self._listeners: list[RevocationListener] = []
        self._next_prune = 0.0

    @property
    def record_ttl(self) -> float:
        """How long each record is kept, in seconds."""
        return self._record_ttl

    def add_listener(self, listener: RevocationListener) -> None:
        self._listeners.append(listener)

    def is_revoked(self, *, tenant_id: str, token_id: str, subject: str, issued_at: float) -> bool:
        """Whether a token is revoked; memory only. Raises `RevocationUnavailable` if memory is untrusted."""
        # Expiry is not checked here: a record past `expires_at` can only match tokens that expired already.
        records = self._records
        if ("token", tenant_id, token_id) in records:
            return True
        by_subject = records.get(("subject", tenant_id, subject))
        if by_subject is not None and issued_at <= by_subject.at:
            return True
        cutoff = records.get(("issued_before", tenant_id, ""))
        return cutoff is not None and issued_at < cutoff.at

    def apply(self, record: RevocationRecord) -> None:
        """Take a record into memory (from this store's writes, `sync`, or another replica's event)."""
        known = self._records.get(record._slot)
        if known is not None and known.at >= record.at:
            return
        self._records[record._slot] = record
        self._prune_now_and_then()
        for listener in self._listeners:
            listener(record)

    async def revoke_token(self, tenant_id: str, token_id: str) -> RevocationRecord:
        """Revoke the tenant's token with this `jti`."""
        return await self._revoke("token", tenant_id, token_id, self._clock())

    async def revoke_subject(self, tenant_id: str, subject: str) -> RevocationRecord:
        """Revoke this `sub`'s tokens issued until now; later ones stay valid.

        `iat` counts whole seconds, so a token minted later within the same second is refused too.
        """
        return await self._revoke("subject", tenant_id, subject, self._clock())

    async def revoke_issued_before(self, tenant_id: str, cutoff: float | None = None) -> RevocationRecord:
        """Revoke the tenant's tokens issued before `cutoff` (default: now; a future cutoff is refused)."""
        now = self._clock()
        if cutoff is not None and not cutoff <= now:
            raise ValueError("a revocation cutoff must not lie in the future")
        return await self._revoke("issued_before", tenant_id, "", now if cutoff is None else cutoff)

    async def _revoke(
        self, kind: RevocationKind, tenant_id: str, subject: str, at: float
    ) -> RevocationRecord:
        if not tenant_id or (kind != "issued_before" and not subject):
            raise ValueError("a revocation needs a tenant and what to revoke")
        record = RevocationRecord(kind, tenant_id, subject, at, at + self._record_ttl)
        # Memory first: even if persisting fails, this replica already refuses the token (fail closed).
        self.apply(record)
        await self._persist(record)
        return record

    @abstractmethod
    async def _persist(self, record: RevocationRecord) -> None: ...

    def _prune_now_and_then(self) -> None:
        now = self._clock()
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_INTERVAL_SECONDS
        for slot in [slot for slot, record in self._records.items() if record.expires_at <= now]:
            del self._records[slot]


class InProcessRevocationStore(RevocationStore):
    """Revocations kept in this process only: for single-process mode and tests."""

    async def _persist(self, record: RevocationRecord) -> None:
        return None


class RedisRevocationStore(RevocationStore):
    """Revocations shared through Redis, answered from an in-memory mirror.

    `redis` is injected: its owner sets the socket timeouts and closes it. Every record is a member of one
    sorted set scored by its expiry; the set's own TTL never exceeds the latest member's expiry.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str,
        record_ttl: float | timedelta,
        fail_open: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(record_ttl=record_ttl, clock=clock)
        self._redis = redis
        self._key = f"{key_prefix}revocations"
        self._fail_open = fail_open
        self._trusted = False  # nothing is known until the first successful sync
        self._times_marked_stale = 0

    @property
    def trusted(self) -> bool:
        return self._trusted

    def mark_stale(self) -> None:
        """Distrust memory (e.g. the event feed broke) until the next successful `sync()`."""
        self._trusted = False
        self._times_marked_stale += 1

    def is_revoked(self, *, tenant_id: str, token_id: str, subject: str, issued_at: float) -> bool:
        if not self._trusted and not self._fail_open:
            raise RevocationUnavailable()
        return super().is_revoked(
            tenant_id=tenant_id, token_id=token_id, subject=subject, issued_at=issued_at
        )

    async def sync(self) -> None:
        """Load every live record from Redis into memory, then trust memory again.

        Records are merged, never replaced, so an event applied during the load is not lost. A Redis error
        or an unreadable record marks the store stale and raises `RevocationUnavailable`. If the store was
        marked stale while this sync ran, it stays stale (what was missed may postdate the load): sync again.
        """
        times_marked_stale = self._times_marked_stale
        now = self._clock()
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(self._key, "-inf", now)
                pipe.zrangebyscore(self._key, now, "+inf")
                _, members = await pipe.execute()
            records = [RevocationRecord.from_json(member) for member in members]
        except (RedisError, OSError, ValueError) as error:
            self.mark_stale()
            raise RevocationUnavailable() from error
        for record in records:
            self.apply(record)
        self._trusted = self._times_marked_stale == times_marked_stale

    async def _persist(self, record: RevocationRecord) -> None:
        expires_at_ms = math.floor(record.expires_at * 1000)  # never outlive the record
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(self._key, {record.to_json(): record.expires_at})
                pipe.zremrangebyscore(self._key, "-inf", self._clock())
                # NX gives a new set its TTL; GT only ever extends it, so a replica configured with a shorter
                # record_ttl cannot expire records written by one with a longer one.
                pipe.pexpireat(self._key, expires_at_ms, nx=True)
                pipe.pexpireat(self._key, expires_at_ms, gt=True)
                await pipe.execute()
        except (RedisError, OSError) as error:
            self.mark_stale()
            raise RevocationUnavailable() from error
