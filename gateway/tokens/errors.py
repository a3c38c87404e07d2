"""Why a guest token was refused: one exception class per refusal, under one `TokenError` root.

Catch `TokenError` to reject a request; its `status` (401, or 503 when revocation state cannot be trusted)
and `code` are what an HTTP handler returns. Messages are fixed texts: they never echo the token, a claim
value chosen by the caller, or key material, so they are safe to log and to send back.
"""

from __future__ import annotations

from typing import ClassVar


class TokenError(Exception):
    """Root of every refusal; `status` is the HTTP status the refusal maps to."""

    default_code: ClassVar[str] = "invalid_token"
    default_message: ClassVar[str] = "the token is not valid"
    default_status: ClassVar[int] = 401

    def __init__(self, message: str | None = None) -> None:
        self.code: str = self.default_code
        self.message: str = message or self.default_message
        self.status: int = self.default_status
        super().__init__(self.message)


class MissingToken(TokenError):
    default_code = "missing_token"
    default_message = "the request carries no guest token"


class MalformedToken(TokenError):
    default_code = "token_malformed"
    default_message = "the token is not a well-formed signed JWT"


class TokenTooLarge(TokenError):
    default_code = "token_too_large"
    default_message = "the token exceeds the maximum size"


class UnknownKey(TokenError):
    """The header names a `kid` the gateway does not know; `kid` is kept for a refresh, not for display."""

    default_code = "unknown_key"
    default_message = "the token was signed with an unknown key"

    def __init__(self, kid: str, message: str | None = None) -> None:
        super().__init__(message)
        self.kid = kid


class AlgorithmNotAllowed(TokenError):
    default_code = "algorithm_not_allowed"
    default_message = "the token's algorithm is not the signing key's algorithm"


class InvalidSignature(TokenError):
    default_code = "invalid_signature"
    default_message = "the token's signature does not verify"


class TokenExpired(TokenError):
    default_code = "token_expired"
    default_message = "the token has expired"


class TokenLifetimeTooLong(TokenError):
    """`exp - iat` exceeds the longest life the gateway allows, which revocation records are sized for."""

    default_code = "token_lifetime_too_long"
    default_message = "the token's lifetime exceeds the maximum"


class TokenNotYetValid(TokenError):
    default_code = "token_not_yet_valid"
    default_message = "the token is not valid yet"


class WrongAudience(TokenError):
    default_code = "wrong_audience"
    default_message = "the token is not intended for this audience"


class WrongIssuer(TokenError):
    default_code = "wrong_issuer"
    default_message = "the token was not issued by this issuer"


class WrongTokenType(TokenError):
    default_code = "wrong_token_type"
    default_message = "the token is not a guest token"


class MissingClaim(TokenError):
    """A required claim is absent; `claim` names it (a name from our fixed list, never caller text)."""

    default_code = "missing_claim"

    def __init__(self, claim: str) -> None:
        super().__init__(f"the token lacks the required claim {claim!r}")
        self.claim = claim


class TokenRevoked(TokenError):
    default_code = "token_revoked"
    default_message = "the token has been revoked"


class TenantSuspended(TokenError):
    default_code = "tenant_suspended"
    default_message = "the token's tenant is suspended"


class TenantUnknown(TokenError):
    default_code = "tenant_unknown"
    default_message = "the token's tenant does not exist"


class KeyRetired(TokenError):
    default_code = "key_retired"
    default_message = "the token was signed with a retired key"


class TenantMismatch(TokenError):
    default_code = "tenant_mismatch"
    default_message = "the token's tenant is not the signing key's tenant"


class RevocationUnavailable(TokenError):
    """Revocation state cannot be trusted (e.g. Redis unreachable): refuse rather than pass a revoked one."""

    default_code = "revocation_unavailable"
    default_message = "token revocation state is unavailable; try again later"
    default_status = 503
