"""The verified-token cache: a token already verified costs a dictionary lookup instead of a signature check.

Only what a signature vouches for is cached (the parsed claims). The checks whose answer can change during
a token's life (tenant status, revocation) are not cached: the verifier runs them on every hit.
"""

from __future__ import annotations

from collections.abc import Callable

from cachetools import TLRUCache

from gateway.tokens.claims import GuestClaims


class VerifiedTokenCache(TLRUCache[bytes, GuestClaims, float]):
    """LRU-bounded map from a token's bytes to its claims, each entry dropped once its token expires
    (`exp` plus `leeway`, on `clock`). A `maxsize` of 0 keeps nothing."""

    def __init__(self, maxsize: int, *, leeway: float, clock: Callable[[], float]) -> None:
        super().__init__(maxsize, ttu=lambda _token, claims, _now: claims.expires_at + leeway, timer=clock)
        self._tokens_by_tenant: dict[str, set[bytes]] = {}

    def __setitem__(self, token: bytes, claims: GuestClaims) -> None:
        if self.maxsize == 0:  # cachetools refuses any entry as too large
            return
        super().__setitem__(token, claims)
        if token in self:  # not when the token expired before it could be stored
            self._tokens_by_tenant.setdefault(claims.tenant_id, set()).add(token)

    def popitem(self) -> tuple[bytes, GuestClaims]:
        token, claims = super().popitem()
        self._forget_tenant_token(token, claims.tenant_id)
        return token, claims

    def expire(self, time: float | None = None) -> list[tuple[bytes, GuestClaims]]:
        expired = super().expire(time)
        for token, claims in expired:
            self._forget_tenant_token(token, claims.tenant_id)
        return expired

    def purge_tenant(self, tenant_id: str) -> None:
        """Forget every token of `tenant_id` (its keys rotated, or one of its tokens was revoked)."""
        for token in self._tokens_by_tenant.pop(tenant_id, ()):
            self.pop(token, None)

    def _forget_tenant_token(self, token: bytes, tenant_id: str) -> None:
        tokens = self._tokens_by_tenant.get(tenant_id)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._tokens_by_tenant[tenant_id]
