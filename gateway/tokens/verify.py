"""Verification of guest tokens: the function the data plane calls on every request.

`TokenVerifier.verify` runs small `_check_*` steps, each raising its own `TokenError`. A token verified once
is cached (keyed by its bytes, until it expires); on a cache hit only the checks whose answer can change
during a token's life run again, and both are in-memory lookups: the tenant's status and revocation.
No step does I/O; `verify_refreshing_keys` is the async variant that may fetch an unknown `kid` once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Literal, Protocol

from gateway.tokens.cache import VerifiedTokenCache
from gateway.tokens.claims import GUEST_TOKEN_TYPE, GuestClaims
from gateway.tokens.durations import seconds
from gateway.tokens.errors import (
    AlgorithmNotAllowed,
    InvalidSignature,
    KeyRetired,
    MalformedToken,
    TenantMismatch,
    TenantSuspended,
    TenantUnknown,
    TokenExpired,
    TokenLifetimeTooLong,
    TokenNotYetValid,
    TokenRevoked,
    TokenTooLarge,
    UnknownKey,
    WrongAudience,
    WrongIssuer,
    WrongTokenType,
)
from gateway.tokens.jws import MAX_TOKEN_BYTES, CompactJws, decode_payload, parse_compact, verify_signature
from gateway.tokens.keyring import KeyRing
from gateway.tokens.keys import ALGORITHMS, VerificationKey
from gateway.tokens.revocation import RevocationListener

TenantStatus = Literal["active", "suspended", "unknown"]
TenantStatusCheck = Callable[[str], TenantStatus]
"""In-memory lookup of a tenant's status by id; it runs on every request, so it must not do I/O."""


class RevocationChecker(Protocol):
    """What the verifier needs of a revocation store (see `gateway.tokens.revocation`)."""

    @property
    def record_ttl(self) -> float: ...

    def is_revoked(self, *, tenant_id: str, token_id: str, subject: str, issued_at: float) -> bool: ...

    def add_listener(self, listener: RevocationListener) -> None: ...


class TokenVerifier:
    """Verify guest tokens against a key ring, for one audience and issuer.

    `leeway` absorbs clock skew on `exp`, `nbf` and `iat`. `max_lifetime` bounds `exp - iat`, so that no
    token outlives its revocation record: the store's `record_ttl` must cover `max_lifetime + leeway`
    (checked here). `cache_size` 0 disables the verified-token cache.
    """

    def __init__(
        self,
        keyring: KeyRing,
        *,
        audience: str,
        issuer: str,
        tenant_status: TenantStatusCheck,
        revocations: RevocationChecker,
        leeway: float | timedelta = 10.0,
        max_lifetime: float | timedelta = timedelta(hours=1),
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not audience or not issuer:
            raise ValueError("a verifier needs an audience and an issuer")
        self._keyring = keyring
        self._audience = audience
        self._issuer = issuer
        self._tenant_status = tenant_status
        self._revocations = revocations
        self._leeway = seconds(leeway, name="leeway")
        self._max_lifetime = seconds(max_lifetime, name="max_lifetime", minimum=1.0)
        if revocations.record_ttl < self._max_lifetime + self._leeway:
            raise ValueError("revocation records must live at least max_lifetime + leeway")
        self._clock = clock
        self._cache = VerifiedTokenCache(cache_size, clock=clock)
        # A rotation can retire the key a cached token was verified with; a revocation is checked on every
        # hit anyway, but dropping the tenant's entries keeps the cache from holding tokens nobody may use.
        keyring.add_listener(self._cache.purge_tenant)
        revocations.add_listener(lambda record: self._cache.purge_tenant(record.tenant_id))

    def verify(self, token: str | bytes) -> GuestClaims:
        """The token's claims if every check passes; otherwise the `TokenError` of the first that fails."""
        data = self._check_size(token)
        cached = self._cache.get(data)
        claims = cached if cached is not None else self._check_signed_token(data, self._clock())
        # What can change during a token's life is checked on every call, cached or not.
        self._check_tenant_active(claims)
        self._check_not_revoked(claims)
        if cached is None:
            self._cache.put(data, claims, expires_at=claims.expires_at + self._leeway)
        return claims

    async def verify_refreshing_keys(self, token: str | bytes) -> GuestClaims:
        """`verify`, except that an unknown `kid` is fetched once through the key ring's loader first."""
        try:
            return self.verify(token)
        except UnknownKey as unknown:
            if await self._keyring.refresh(unknown.kid) is None:
                raise
        return self.verify(token)

    def _check_signed_token(self, data: bytes, now: float) -> GuestClaims:
        jws = parse_compact(data)
        self._check_algorithm_allowed(jws)
        key = self._check_key_known(jws)
        self._check_algorithm_is_keys(jws, key)
        self._check_signature(jws, key)
        claims = GuestClaims.from_payload(decode_payload(jws))
        self._check_times(claims, now)
        self._check_audience(claims)
        self._check_issuer(claims)
        self._check_type(claims)
        self._check_tenant_is_keys(claims, key)
        self._check_key_not_retired(key)
        return claims

    @staticmethod
    def _check_size(token: str | bytes) -> bytes:
        # Before anything else reads it: a huge token must cost nothing to refuse.
        if len(token) > MAX_TOKEN_BYTES:
            raise TokenTooLarge()
        if isinstance(token, bytes):
            return token
        try:
            return token.encode("ascii")
        except UnicodeEncodeError as error:
            raise MalformedToken() from error

    @staticmethod
    def _check_algorithm_allowed(jws: CompactJws) -> None:
        # Refused before the key lookup, so `alg: none` never even triggers a key refresh.
        if jws.algorithm not in ALGORITHMS:
            raise AlgorithmNotAllowed()

    def _check_key_known(self, jws: CompactJws) -> VerificationKey:
        key = self._keyring.get(jws.kid)
        if key is None:
            raise UnknownKey(jws.kid)
        return key

    @staticmethod
    def _check_algorithm_is_keys(jws: CompactJws, key: VerificationKey) -> None:
        # The key decides the algorithm, never the token: this is what defeats HS256-with-the-public-key.
        if jws.algorithm != key.algorithm:
            raise AlgorithmNotAllowed()

    @staticmethod
    def _check_signature(jws: CompactJws, key: VerificationKey) -> None:
        if not verify_signature(jws, key):
            raise InvalidSignature()

    def _check_times(self, claims: GuestClaims, now: float) -> None:
        if now >= claims.expires_at + self._leeway:
            raise TokenExpired()
        if now < claims.not_before - self._leeway or now < claims.issued_at - self._leeway:
            raise TokenNotYetValid()
        if claims.expires_at - claims.issued_at > self._max_lifetime:
            raise TokenLifetimeTooLong()

    def _check_audience(self, claims: GuestClaims) -> None:
        if self._audience not in claims.audience:
            raise WrongAudience()

    def _check_issuer(self, claims: GuestClaims) -> None:
        if claims.issuer != self._issuer:
            raise WrongIssuer()

    @staticmethod
    def _check_type(claims: GuestClaims) -> None:
        if claims.token_type != GUEST_TOKEN_TYPE:
            raise WrongTokenType()

    @staticmethod
    def _check_tenant_is_keys(claims: GuestClaims, key: VerificationKey) -> None:
        # A tenant holding an HS256 secret can sign anything; it must not speak for another tenant.
        if claims.tenant_id != key.tenant_id:
            raise TenantMismatch()

    @staticmethod
    def _check_key_not_retired(key: VerificationKey) -> None:
        if key.status == "retired":
            raise KeyRetired()

    def _check_tenant_active(self, claims: GuestClaims) -> None:
        status = self._tenant_status(claims.tenant_id)
        if status == "active":
            return
        if status == "suspended":
            raise TenantSuspended()
        raise TenantUnknown()

    def _check_not_revoked(self, claims: GuestClaims) -> None:
        if self._revocations.is_revoked(
            tenant_id=claims.tenant_id,
            token_id=claims.token_id,
            subject=claims.subject,
            issued_at=claims.issued_at,
        ):
            raise TokenRevoked()
