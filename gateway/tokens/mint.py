"""Minting: build a guest token's claims and sign them with the tenant's key.

The caller (the mint endpoint) has already validated `user`, `resources` and `rls_rules` against the
registry; this module only stamps the registered claims and signs.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from types import MappingProxyType
from typing import Any, Final

from gateway.tokens.claims import GUEST_TOKEN_TYPE, GuestClaims, GuestUser, Resource
from gateway.tokens.durations import seconds
from gateway.tokens.jws import MAX_TOKEN_BYTES, sign_compact
from gateway.tokens.keys import SigningKey

DEFAULT_TTL: Final = timedelta(seconds=300)
_JTI_BYTES: Final = 16  # 128 random bits: unguessable and collision-free at any realistic volume


@dataclass(frozen=True, slots=True)
class MintedToken:
    token: str
    claims: GuestClaims


def mint_guest_token(
    key: SigningKey,
    *,
    issuer: str,
    audience: str,
    subject: str,
    user: GuestUser,
    resources: Sequence[Resource],
    rls_rules: Sequence[Mapping[str, Any]],
    ttl: float | timedelta = DEFAULT_TTL,
    origins: Sequence[str] | None = None,
    now: float | None = None,
) -> MintedToken:
    """Sign a guest token for `user` with `key` (its own algorithm, its `kid` in the header).

    `ttl` must already be capped by the tenant's maximum. `now` defaults to the current time.
    Raises `ValueError` for a `ttl` under one second or a token that would exceed `MAX_TOKEN_BYTES`.
    """
    lifetime = int(seconds(ttl, name="ttl", minimum=1))
    issued_at = int(time.time() if now is None else now)
    claims = GuestClaims(
        issuer=issuer,
        audience=(audience,),
        subject=subject,
        tenant_id=key.tenant_id,
        issued_at=issued_at,
        not_before=issued_at,
        expires_at=issued_at + lifetime,
        token_id=secrets.token_urlsafe(_JTI_BYTES),
        token_type=GUEST_TOKEN_TYPE,
        user=user,
        resources=tuple(resources),
        rls_rules=tuple(MappingProxyType(dict(rule)) for rule in rls_rules),
        origins=None if origins is None else tuple(origins),
    )
    token = sign_compact(claims.to_payload(), key)
    if len(token) > MAX_TOKEN_BYTES:
        raise ValueError(f"the guest token would exceed {MAX_TOKEN_BYTES} bytes; send fewer rules")
    return MintedToken(token, claims)
