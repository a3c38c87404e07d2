"""`access.denied` audit events: a request whose guest token checked out, refused all the same.

Once a token's signature and claims are verified, its tenant and user are known, and a 403 that
follows (a chart, dashboard or dataset the token does not grant, a table the rules forbid, a write,
an origin the tenant does not allow) tells the tenant's operators who tried what. A token that fails
verification names no tenant anyone can trust: that refusal goes to the metrics
(`gateway_tokens_rejected_total`) and the logs, never to a tenant's stream.

The claims are left in the request's scope by whoever verified them (`remember_claims`); the
exception handlers of the app record the event on the way out, so no endpoint has to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from gateway.bus.events import Event
from gateway.events.audit_trail import AuditTrail
from gateway.tokens.claims import GuestClaims

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]

_CLAIMS: Final = "gateway.guest_claims"


def remember_claims(scope: Scope, claims: GuestClaims) -> None:
    """Mark the request as made by a verified guest (before any check that may still refuse it)."""
    scope[_CLAIMS] = claims


def recording_denials(handler: ExceptionHandler, audit: AuditTrail) -> ExceptionHandler:
    """`handler`, after recording an `access.denied` event when it answers a verified guest with 403."""

    async def handle(request: Request, exc: Exception) -> Response:
        claims: GuestClaims | None = request.scope.get(_CLAIMS)
        if claims is not None and getattr(exc, "status", None) == 403:
            payload = {
                "sub": claims.subject,
                "jti": claims.token_id,
                "code": getattr(exc, "code", "forbidden"),
                "method": request.method,
                "path": request.scope["path"][:200],
            }
            audit.record(Event("access.denied", claims.tenant_id, payload))
        return await handler(request, exc)

    return handle
