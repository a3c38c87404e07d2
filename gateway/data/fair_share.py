"""Each tenant's share of the data plane, so that no tenant can take the service away from the others.

Two limits per tenant, and optionally the same two per user (token subject) of a tenant:

- data requests per second (`admit`), counted at the door of chart data and query, cached or not;
- warehouse queries running at once (`warehouse_slot`), taken only around a warehouse run. An answer
  from the result cache never waits for, or takes, a slot: a tenant whose queries are slow keeps its
  own cached answers, and every other tenant's answers, as fast as ever.

Beyond either limit the request is refused at once with 429 and `Retry-After`. Both are shared
through Redis by every replica when it is configured (`gateway.http.rate_limit`,
`gateway.http.concurrency_limit`, which also say what happens while Redis is away).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from redis.asyncio import Redis

from gateway.http.concurrency_limit import ConcurrencyLimiter
from gateway.http.rate_limit import FixedWindowLimiter
from gateway.tokens.claims import GuestClaims


class FairShares:
    def __init__(
        self,
        redis: Redis | None,
        *,
        prefix: str,
        tenant_rate: int,
        user_rate: int,
        tenant_queries: int,
        user_queries: int,
        lease_seconds: float,
    ) -> None:
        """Rates are per second, counts of queries running at once; a user limit of 0 is none."""

        def rate(name: str, limit: int) -> FixedWindowLimiter:
            return FixedWindowLimiter(redis, prefix=prefix, name=name, limit=limit, window_seconds=1)

        def queries(name: str, limit: int, holder: str) -> ConcurrencyLimiter:
            return ConcurrencyLimiter(
                redis,
                prefix=prefix,
                name=name,
                limit=limit,
                lease_seconds=lease_seconds,
                refusal=f"{holder} already has {limit} queries running in its warehouses",
            )

        self._tenant_rate = rate("tenant-data", tenant_rate)
        self._user_rate = rate("user-data", user_rate) if user_rate else None
        self._tenant_queries = queries("tenant-queries", tenant_queries, "this tenant")
        self._user_queries = queries("user-queries", user_queries, "this user") if user_queries else None

    async def admit(self, claims: GuestClaims) -> None:
        """Count one data request of this guest; raise `RateLimited` beyond its tenant's (or its) rate."""
        await self._tenant_rate.hit(claims.tenant_id)
        if self._user_rate is not None:
            await self._user_rate.hit(_user_key(claims))

    @contextlib.asynccontextmanager
    async def warehouse_slot(self, claims: GuestClaims) -> AsyncIterator[None]:
        """Hold a query slot of the guest's tenant (and of the guest) for the body, or raise `RateLimited`."""
        async with contextlib.AsyncExitStack() as held:
            await held.enter_async_context(self._tenant_queries.slot(claims.tenant_id))
            if self._user_queries is not None:
                await held.enter_async_context(self._user_queries.slot(_user_key(claims)))
            yield


def _user_key(claims: GuestClaims) -> str:
    return f"{claims.tenant_id}:{claims.subject}"
