"""The verified-token cache: a token already verified costs a dictionary lookup instead of a signature check.

Only what a signature vouches for is cached (the parsed claims). The checks whose answer can change during
a token's life (tenant status, revocation) are not cached: the verifier runs them on every hit.
"""

from __future__ import annotations

from collections import OrderedDict

from gateway.tokens.claims import GuestClaims


class VerifiedTokenCache:
    """LRU-bounded map from a token's bytes to its claims, each entry dropped when its deadline passes."""

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must not be negative")
        self._max_entries = max_entries  # 0 disables the cache
        self._entries: OrderedDict[bytes, tuple[GuestClaims, float]] = OrderedDict()
        self._tokens_by_tenant: dict[str, set[bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: bytes, now: float) -> GuestClaims | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        claims, valid_until = entry
        if now >= valid_until:
            self._remove(token, claims.tenant_id)
            return None
        self._entries.move_to_end(token)
        return claims

    def put(self, token: bytes, claims: GuestClaims, *, valid_until: float) -> None:
        if self._max_entries == 0:
            return
        self._entries[token] = (claims, valid_until)
        self._entries.move_to_end(token)
        self._tokens_by_tenant.setdefault(claims.tenant_id, set()).add(token)
        while len(self._entries) > self._max_entries:
            evicted, (evicted_claims, _) = self._entries.popitem(last=False)
            self._forget_tenant_token(evicted, evicted_claims.tenant_id)

    def purge_tenant(self, tenant_id: str) -> None:
        """Forget every token of `tenant_id` (its keys rotated, or one of its tokens was revoked)."""
        for token in self._tokens_by_tenant.pop(tenant_id, ()):
            del self._entries[token]

    def _remove(self, token: bytes, tenant_id: str) -> None:
        del self._entries[token]
        self._forget_tenant_token(token, tenant_id)

    def _forget_tenant_token(self, token: bytes, tenant_id: str) -> None:
        tokens = self._tokens_by_tenant.get(tenant_id)
        if tokens is not None:
            tokens.discard(token)
            if not tokens:
                del self._tokens_by_tenant[tenant_id]
