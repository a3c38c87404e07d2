"""The verified-token cache: a token already verified costs a dictionary lookup instead of a signature check.

Only what a signature vouches for is cached (the parsed claims). The checks whose answer can change during
a token's life (tenant status, revocation) are not cached: the verifier runs them on every hit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from gateway.lru import LruCache
from gateway.tokens.claims import GuestClaims


class VerifiedTokenCache(LruCache[bytes, GuestClaims]):
    """LRU-bounded map from a token's bytes to its claims, each entry dropped when its deadline passes
    on `clock`. A `maxsize` of 0 keeps nothing."""

    def __init__(self, maxsize: int, *, clock: Callable[[], float]) -> None:
        super().__init__(maxsize, clock=clock, on_discard=self._forget_tenant_token)
        self._tokens_by_tenant: dict[str, set[bytes]] = {}

    def put(self, key: bytes, value: GuestClaims, *, expires_at: float = math.inf) -> None:
        super().put(key, value, expires_at=expires_at)
        if self.maxsize:
            self._tokens_by_tenant.setdefault(value.tenant_id, set()).add(key)

    def purge_tenant(self, tenant_id: str) -> None:
        """Forget every token of `tenant_id` (its keys rotated, or one of its tokens was revoked)."""
        for token in self._tokens_by_tenant.pop(tenant_id, ()):
            self.forget(token)

    def _forget_tenant_token(self, token: bytes, claims: GuestClaims) -> None:
        tokens = self._tokens_by_tenant.get(claims.tenant_id)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._tokens_by_tenant[claims.tenant_id]
