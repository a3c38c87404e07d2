"""Who is asking, for the data plane: the verified guest token of a request.

The token travels as `Authorization: Bearer` or `X-GuestToken`. Any refusal is a `TokenError`
answered 401 with its specific code (503 when revocation state cannot be trusted).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from gateway import logs
from gateway.metrics import metrics_of
from gateway.tokens.claims import GuestClaims
from gateway.tokens.errors import MissingToken, TokenError
from gateway.tokens.verify import TokenVerifier
from gateway.web.errors import error_response


def token_of(request: Request) -> str | None:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return request.headers.get("x-guesttoken") or None


async def guest_claims(request: Request, verifier: TokenVerifier) -> GuestClaims:
    token = token_of(request)
    if token is None:
        raise MissingToken("send the guest token as Authorization: Bearer or X-GuestToken")
    claims = await verifier.verify_refreshing_keys(token)
    metrics_of(request).tokens_verified.inc()
    logs.bind_tenant(claims.tenant_id)
    return claims


async def handle_token_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TokenError)
    metrics_of(request).tokens_rejected.labels(reason=exc.code).inc()
    headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.code}"'}
    return error_response(exc.status, exc.code, exc.message, headers=headers if exc.status == 401 else None)
