"""The verifier's in-memory key ring: `kid` -> `VerificationKey`, consulted synchronously on every request.

The ring is fed by the wiring (at start, and from `config` events on rotation) through
`replace_tenant_keys` and `drop_tenant`. A `kid` it does not know can be fetched once through an injected
async loader, as pyjwt's `PyJWKClient` refetches on an unknown `kid`; misses are remembered for a while so a
stream of invented `kid`s cannot turn into a stream of registry queries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from gateway.lru import LruCache
from gateway.tokens.durations import seconds
from gateway.tokens.keys import VerificationKey

KeyLoader = Callable[[str], Awaitable[VerificationKey | None]]
"""Fetch one key by `kid` from the registry; `None` when no tenant has it."""
TenantKeysListener = Callable[[str], None]
"""Told the tenant id whenever that tenant's keys are replaced or dropped."""


class KeyRing:
    def __init__(
        self,
        loader: KeyLoader | None = None,
        *,
        miss_ttl: float | timedelta = 30.0,
        max_remembered_misses: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self._keys: dict[str, VerificationKey] = {}
        self._kids_by_tenant: dict[str, frozenset[str]] = {}
        self._miss_ttl = seconds(miss_ttl, name="miss_ttl")
        self._clock = clock
        # The kids the loader did not know; asking does not refresh a miss, so the oldest is forgotten first.
        self._misses: LruCache[str, bool] = LruCache(max_remembered_misses, clock=clock)
        self._loading: dict[str, asyncio.Task[VerificationKey | None]] = {}
        self._listeners: list[TenantKeysListener] = []

    def get(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)

    def keys(self) -> tuple[VerificationKey, ...]:
        return tuple(self._keys.values())

    def tenant_keys(self, tenant_id: str) -> tuple[VerificationKey, ...]:
        return tuple(self._keys[kid] for kid in self._kids_by_tenant.get(tenant_id, ()))

    def add_listener(self, listener: TenantKeysListener) -> None:
        self._listeners.append(listener)

    def replace_tenant_keys(self, tenant_id: str, keys: Iterable[VerificationKey]) -> None:
        """Make `keys` the whole of the tenant's keys (with their statuses), e.g. after a rotation."""
        new_keys = {key.kid: key for key in keys}
        for kid, key in new_keys.items():
            if key.tenant_id != tenant_id:
                raise ValueError(f"key {kid!r} belongs to another tenant than {tenant_id!r}")
            owner = self._keys.get(kid)
            # One kid naming keys of two tenants would let the wrong tenant's key vouch for a token.
            if owner is not None and owner.tenant_id != tenant_id:
                raise ValueError(f"kid {kid!r} is already used by another tenant")
        self._remove_tenant(tenant_id)
        self._keys.update(new_keys)
        self._kids_by_tenant[tenant_id] = frozenset(new_keys)
        for kid in new_keys:
            self._misses.forget(kid)
        self._notify(tenant_id)

    def drop_tenant(self, tenant_id: str) -> None:
        self._remove_tenant(tenant_id)
        self._notify(tenant_id)

    async def refresh(self, kid: str) -> VerificationKey | None:
        """The key for `kid`, loading it once if unknown; `None` if the loader has no such key either.

        Concurrent refreshes of one `kid` share one load; a `kid` the loader did not know is not asked
        for again until `miss_ttl` has passed. Loader errors propagate (the request then fails closed).
        """
        known = self._keys.get(kid)
        if known is not None or self._loader is None or self._misses.get(kid, refresh=False):
            return known
        task = self._loading.get(kid)
        if task is None:
            task = asyncio.ensure_future(self._load(self._loader, kid))
            self._loading[kid] = task
            task.add_done_callback(lambda _: self._loading.pop(kid, None))
        # shield: one caller giving up must not cancel the load the others are waiting on.
        return await asyncio.shield(task)

    async def _load(self, loader: KeyLoader, kid: str) -> VerificationKey | None:
        key = await loader(kid)
        if key is None:
            self._misses.put(kid, True, expires_at=self._clock() + self._miss_ttl)
            return None
        if key.kid != kid:
            raise ValueError("the key loader returned a key for another kid")
        owner_kids = self._kids_by_tenant.get(key.tenant_id, frozenset())
        self._keys[kid] = key
        self._kids_by_tenant[key.tenant_id] = owner_kids | {kid}
        return key

    def _remove_tenant(self, tenant_id: str) -> None:
        for kid in self._kids_by_tenant.pop(tenant_id, ()):
            del self._keys[kid]

    def _notify(self, tenant_id: str) -> None:
        for listener in self._listeners:
            listener(tenant_id)
