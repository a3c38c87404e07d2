"""CORS for the data endpoints only, and only for origins tenants allow.

Applied by `gateway.edge.middleware`.

A preflight carries no token, so it is answered for any origin some tenant allows (`KnownOrigins`);
any other preflight gets no CORS header and the browser stops there. An actual answer carries
`Access-Control-Allow-Origin` only when the request's origin passed the check against its own token
(`gateway.guest.auth` records it in `request.state.cors_origin`), so a token of one tenant never
opens its data to another tenant's origin. No `Access-Control-Allow-Credentials` is ever sent:
cross-origin callers authenticate with a bearer token, and the session cookie stays first-party.

Every other path (the mint, OAuth and admin endpoints above all) is passed through untouched: it
never sends a CORS header, preflight included.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final

from starlette.responses import Response

from gateway.http.errors import error_response
from gateway.http.origins import normalise_origin, origin_allowed
from gateway.http.request_state import CORS_ORIGIN_STATE

logger = logging.getLogger("gateway.cors")

DATA_PATHS: Final = frozenset({"/api/v1/chart/data", "/api/v1/query"})
DATA_PATH_PREFIXES: Final = ("/api/v1/dashboard/",)
PREFLIGHT_HEADERS: Final = {
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, X-GuestToken, X-Request-ID",
    "Access-Control-Max-Age": "600",
    "Vary": "Origin",
}


def is_data_path(path: str) -> bool:
    return path in DATA_PATHS or path.startswith(DATA_PATH_PREFIXES)


class KnownOrigins:
    """Every embed origin any tenant allows, held in memory for answering preflights.

    Reloaded when older than `max_age`, and at once (at most every `miss_interval`) when an origin is
    not in it, so a newly added origin works immediately while unknown origins cost at most one
    registry read per `miss_interval`. A removed origin may still be preflighted for `max_age`; that
    opens nothing, since actual answers are checked against the token and the tenant's current list.
    """

    def __init__(
        self,
        load: Callable[[], Awaitable[set[str]]],
        *,
        max_age: float = 30.0,
        miss_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._max_age = max_age
        self._miss_interval = miss_interval
        self._clock = clock
        self._patterns: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._loading: asyncio.Task[None] | None = None

    async def allows(self, origin: str) -> bool:
        try:
            normalised = normalise_origin(origin)
        except ValueError:  # `null`, other schemes, plain http off loopback: never a tenant's origin
            return False
        if origin_allowed(normalised, self._patterns) and not self._older_than(self._max_age):
            return True
        if self._older_than(self._miss_interval):
            await self._reload()
        return origin_allowed(normalised, self._patterns)

    def _older_than(self, seconds: float) -> bool:
        return self._loaded_at is None or self._clock() - self._loaded_at >= seconds

    async def _reload(self) -> None:
        # Concurrent preflights share one read.
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._read())
            self._loading.add_done_callback(lambda _: setattr(self, "_loading", None))
        await asyncio.shield(self._loading)

    async def _read(self) -> None:
        try:
            self._patterns = frozenset(await self._load())
        except Exception:
            # Keep what was known: the registry being down must not open CORS, nor close it for everyone.
            logger.warning("could not read the tenants' embed origins", exc_info=True)
        self._loaded_at = self._clock()


async def preflight_answer(known_origins: KnownOrigins, origin: str) -> Response:
    """The answer to a preflight of the data endpoints from `origin`."""
    if not await known_origins.allows(origin):
        return error_response(
            403, "origin_forbidden", "no tenant allows this origin to call the data endpoints"
        )
    return Response(status_code=204, headers={"Access-Control-Allow-Origin": origin, **PREFLIGHT_HEADERS})


def add_cors_headers(headers: list[tuple[bytes, bytes]], vary_at: int | None, state: dict[str, Any]) -> None:
    """Complete the raw headers of a data endpoint's answer (`vary_at`: the index of its Vary, if any)."""
    # The answer depends on Origin even when it carries no CORS header: caches must know.
    if vary_at is None:
        headers.append((b"vary", b"Origin"))
    else:
        name, value = headers[vary_at]
        headers[vary_at] = (name, value + b", Origin")
    origin = state.get(CORS_ORIGIN_STATE)
    if isinstance(origin, str):
        headers.append((b"access-control-allow-origin", origin.encode("latin-1")))
