"""Who is asking, for the data plane: the verified guest token of a request, and where it comes from.

The token travels as `Authorization: Bearer` or `X-GuestToken` (cookieless mode), or is held by a
server-side session named by a `__Host-gw_session` cookie (session mode; one per embedded dashboard,
named after the `X-Embed-Slot` the page sends). A request carrying a
token ignores cookies entirely, so it needs no CSRF protection; a request relying on the cookie must
send the session's `X-CSRF-Token` on anything but GET and HEAD.

`Origin`, when present, must be the gateway itself (the embedded page it serves) or, for a bearer
token, an origin the token's `origins` claim allows (an empty list allows no other origin), else one
the tenant allows. A session is first-party only: it accepts no other origin. Requests without
`Origin` (servers, curl) pass. Any refusal is a `TokenError` (401 with its specific code, 403
`origin_forbidden`, 503 when revocation state cannot be trusted) or a session error.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Final

from starlette.requests import Request
from starlette.responses import Response

from gateway.events.denials import remember_claims
from gateway.guest.sessions import (
    CSRF_HEADER,
    EmbedSessions,
    Session,
    cleared_session_cookie,
    session_cookie_name,
    slot_of,
)
from gateway.http.errors import ApiError, error_response
from gateway.http.headers import header
from gateway.http.origins import is_own_origin, normalise_origin, origin_allowed
from gateway.http.request_state import CORS_ORIGIN_STATE
from gateway.replica.snapshots import TenantSnapshots
from gateway.telemetry import logs
from gateway.telemetry.metrics import Metrics
from gateway.tokens.claims import GuestClaims
from gateway.tokens.errors import MissingToken, TokenError
from gateway.tokens.verify import TokenVerifier

SAFE_METHODS: Final = frozenset({"GET", "HEAD"})


class OriginForbidden(TokenError):
    default_code = "origin_forbidden"
    default_message = "this origin may not use this token"
    default_status = 403


class SessionInvalid(ApiError):
    """The session cookie is forged, unknown or ended; the answer also clears it."""

    status = 401
    code = "session_invalid"

    def __init__(self, message: str, *, slot: str | None) -> None:
        super().__init__(message)
        self.slot = slot

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Set-Cookie": cleared_session_cookie(self.slot)}


class CsrfFailed(ApiError):
    status = 403
    code = "csrf_failed"


class GuestAuth:
    """Who is asking: the claims of a request's guest token, every check passed.

    One per app, given to each endpoint that serves guests; its `handle_token_error` answers every
    refusal, counted by reason in the app's metrics.
    """

    def __init__(
        self,
        verifier: TokenVerifier,
        snapshots: TenantSnapshots,
        sessions: EmbedSessions,
        metrics: Metrics,
    ) -> None:
        self.verifier = verifier
        self._snapshots = snapshots
        self.sessions = sessions
        self._metrics = metrics

    async def claims(self, request: Request) -> GuestClaims:
        """The claims of the request's guest token (bearer, else session), after every check."""
        token = token_of(request)
        if (
            token is None
            and header(request.scope, b"cookie") is not None
            and session_cookie_name(slot_of(request.headers)) in request.cookies
        ):
            claims = await self._session_claims(request)
        else:
            claims = await self.bearer_claims(request, token)
        self._metrics.count_verified_token()
        logs.bind_tenant(claims.tenant_id)
        return claims

    async def bearer_claims(self, request: Request, token: str | None) -> GuestClaims:
        """The claims of `token`, the one the request carries itself (never a session's), origin checked."""
        if token is None:
            raise MissingToken("send the guest token as Authorization: Bearer or X-GuestToken")
        claims = await self.verifier.verify_refreshing_keys(token)
        remember_claims(request.scope, claims)
        await self._check_origin(request, claims)
        return claims

    async def handle_token_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, TokenError)
        self._metrics.tokens_rejected.labels(reason=exc.code).inc()
        headers = {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{exc.code}"'}
        return error_response(
            exc.status, exc.code, exc.message, headers=headers if exc.status == 401 else None
        )

    async def _check_origin(self, request: Request, claims: GuestClaims) -> None:
        origin = header(request.scope, b"origin")
        if origin is None or is_own_origin(origin, request.scope):
            return
        allowed = claims.origins
        if allowed is None:
            snapshot = await self._snapshots.active(claims.tenant_id)
            allowed = snapshot.tenant.origins
        try:
            normalised = normalise_origin(origin)
        except ValueError:  # `null` (sandboxed frames, file: pages) and anything else no tenant can list
            raise OriginForbidden() from None
        if not origin_allowed(normalised, allowed):
            raise OriginForbidden()
        setattr(request.state, CORS_ORIGIN_STATE, origin)

    async def _session_claims(self, request: Request) -> GuestClaims:
        session = await _session_of(request, self.sessions)
        try:
            claims = await self.verifier.verify_refreshing_keys(session.token)
        except TokenError as exc:
            if exc.status == 401:  # expired, revoked, tenant gone: the session can never work again
                await self.sessions.close(session)
            raise
        remember_claims(request.scope, claims)
        return claims


def token_of(request: Request) -> str | None:
    scheme, _, credential = (header(request.scope, b"authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return header(request.scope, b"x-guesttoken") or None


def check_first_party(request: Request) -> None:
    """Session requests come from the embedded page, which the gateway serves: no other origin."""
    origin = request.headers.get("origin")
    if origin is not None and not is_own_origin(origin, request.scope):
        raise OriginForbidden("sessions are used only by the gateway's own embedded page")


async def _session_of(request: Request, sessions: EmbedSessions) -> Session:
    """The live session the request's cookie names (its use recorded), CSRF checked for writes."""
    check_first_party(request)
    slot = slot_of(request.headers)
    session = await sessions.resume(request.cookies.get(session_cookie_name(slot), ""))
    if session is None:
        raise SessionInvalid(
            "the session is unknown or has ended; open a new one with a fresh ticket", slot=slot
        )
    check_csrf(request, session)
    return session


def check_csrf(request: Request, session: Session) -> None:
    """A state-changing request on a session must echo its CSRF token, which other sites cannot read."""
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get(CSRF_HEADER, "")
    if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise CsrfFailed(f"send the session's CSRF token as {CSRF_HEADER}")
