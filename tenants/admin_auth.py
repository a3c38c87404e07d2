"""Admin authentication for the onboarding API: one bearer credential from GATEWAY_ADMIN_TOKEN.

Attached to each onboarding route rather than matched on paths, so no spelling of a path (a
root_path prefix, encoded characters) can reach a route without passing it. Every refusal is the
same 401, whatever was wrong, so a caller learns nothing about the token.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.http.errors import error_response


class AdminAuthMiddleware:
    def __init__(self, app: ASGIApp, *, token: SecretStr) -> None:
        self.app = app
        self._digest = hashlib.sha256(token.get_secret_value().encode()).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._authorised(scope):
            await self.app(scope, receive, send)
            return
        response = error_response(
            401,
            "unauthorized",
            "a valid admin bearer token is required",
            headers={"WWW-Authenticate": 'Bearer realm="admin"'},
        )
        await response(scope, receive, send)

    def _authorised(self, scope: Scope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, credential = value.decode("latin-1").partition(" ")
                if scheme.lower() != "bearer" or not credential:
                    return False
                # Compare digests: equal lengths, so the comparison time says nothing about the token.
                return hmac.compare_digest(hashlib.sha256(credential.strip().encode()).digest(), self._digest)
        return False
