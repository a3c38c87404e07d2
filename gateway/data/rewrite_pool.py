"""Rewrites the cache has not seen: short queries on the event loop, long ones in worker processes.

Parsing and analysing a query at the rewriter's bounds takes a tenth of a second of CPU, and sqlglot's
compiled code keeps the interpreter lock for all of it, so neither the event loop nor a thread can run it
without stalling every other tenant's answers meanwhile. Worker processes run those rewrites beside the
loop instead. Short queries, which are nearly all of them (charts, typical ad-hoc SQL), cost less than
the round trip to a worker and stay on the loop.

A tenant has at most one rewrite in the workers at a time, so one tenant's heavy queries wait behind each
other, never in front of another tenant's; a request that waits longer than a bound answers 429.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Final

from gateway.http.errors import ApiError
from gateway.http.rate_limit import RateLimited
from gateway.rls.catalog import Catalog
from gateway.rls.errors import RewriteRefused
from gateway.rls.rewrite import RewriteCache, rewrite_outcome

INLINE_CHARS: Final = 4096
"""Queries up to this length are rewritten on the event loop (a few milliseconds at most)."""
TENANT_WAIT_SECONDS: Final = 5.0
"""How long a tenant's long query waits for that tenant's previous one to leave the workers."""
WORKER_NICENESS: Final = 10
"""How much lower a worker's scheduling priority is than the gateway's (``nice``: 0 to 19)."""


class RewriteWorkersFailed(ApiError):
    status = 503
    code = "rewrite_unavailable"


class RewritePool:
    """A ``RewriteCache`` whose misses on long queries are computed in worker processes."""

    def __init__(
        self,
        cache: RewriteCache,
        *,
        processes: int = 1,
        inline_chars: int = INLINE_CHARS,
        tenant_wait_seconds: float = TENANT_WAIT_SECONDS,
    ) -> None:
        if processes < 1:
            raise ValueError("processes must be at least 1")
        self._cache = cache
        self._processes = processes
        self._inline_chars = inline_chars
        self._tenant_wait_seconds = tenant_wait_seconds
        self._executor: ProcessPoolExecutor | None = None
        # One lock per tenant that ever sent a long query: a few hundred bytes each, never dropped.
        self._turns: dict[str, asyncio.Lock] = {}

    async def rewrite_sql(self, sql: str, *, tenant_id: str, dialect: str, catalog: Catalog) -> str:
        """The rewritten SQL; raises ``RewriteRefused`` as ``rewrite`` does, ``RateLimited`` when the
        tenant's previous long query holds its turn too long, ``RewriteWorkersFailed`` when a worker died."""
        cached = self._cache.get(sql, dialect=dialect, catalog=catalog)
        if cached is not None:
            return cached
        if len(sql) <= self._inline_chars:
            outcome = rewrite_outcome(sql, dialect=dialect, catalog=catalog)
        else:
            outcome = await self._in_worker(sql, tenant_id=tenant_id, dialect=dialect, catalog=catalog)
        return self._cache.put(sql, outcome, dialect=dialect, catalog=catalog)

    async def _in_worker(
        self, sql: str, *, tenant_id: str, dialect: str, catalog: Catalog
    ) -> str | RewriteRefused:
        turn = self._turns.setdefault(tenant_id, asyncio.Lock())
        try:
            await asyncio.wait_for(turn.acquire(), self._tenant_wait_seconds)
        except TimeoutError:
            raise RateLimited(
                "this tenant's earlier long queries are still being analysed; try again shortly",
                retry_after=1,
            ) from None
        loop = asyncio.get_running_loop()
        try:
            work = self._workers().submit(rewrite_outcome, sql, dialect=dialect, catalog=catalog)
        except BrokenProcessPool:
            turn.release()
            raise self._broken() from None
        # The turn passes on when the worker is done, not when this request stops waiting: a client that
        # disconnects must not let its tenant stack more work on the workers.
        work.add_done_callback(lambda _: loop.call_soon_threadsafe(turn.release))
        try:
            return await asyncio.wrap_future(work)
        except BrokenProcessPool:
            raise self._broken() from None

    def _broken(self) -> RewriteWorkersFailed:
        self._executor = None  # the next long query starts fresh workers
        return RewriteWorkersFailed("the query analyser stopped; try again")

    def _workers(self) -> ProcessPoolExecutor:
        if self._executor is None:
            # Spawned, not forked: the gateway's threads and sockets must not be copied into a worker.
            self._executor = ProcessPoolExecutor(
                self._processes, mp_context=multiprocessing.get_context("spawn"), initializer=_yield_the_cpu
            )
        return self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _yield_the_cpu() -> None:
    """Run a worker below the event loop's priority: on a busy machine, hot answers go first."""
    os.nice(WORKER_NICENESS)
