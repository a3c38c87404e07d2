"""The session-mode endpoints (see `gateway.guest.sessions`).

- `POST /api/v1/embed/ticket`, server to server: the host backend sends a guest token as a bearer
  and gets a one-time ticket. No CORS: browsers never call it cross-origin.
- `POST /embedded/session` `{"ticket"}`, from the embedded page (the gateway's own origin): redeems
  the ticket once, replaces any session the browser held, sets the session cookie and answers the
  CSRF token the page must echo on state-changing requests.
- `POST /embedded/logout`: ends the session and clears the cookie.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import StringConstraints
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.guest.auth import GuestAuth, check_csrf, check_first_party, token_of
from gateway.guest.sessions import (
    cleared_session_cookie,
    session_cookie,
    session_cookie_name,
    slot_of,
)
from gateway.http.bodies import StrictModel, read_json, validate
from gateway.http.errors import ApiError
from gateway.http.rate_limit import FixedWindowLimiter

NO_STORE: Final = {"Cache-Control": "no-store"}


class TicketRedemption(StrictModel):
    ticket: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class TicketInvalid(ApiError):
    status = 401
    code = "ticket_invalid"


class SessionApi:
    """`tickets` limits the tickets one guest token may get (keyed by tenant and token id): each holds
    a copy of the token, and so does each session opened with one."""

    def __init__(
        self,
        guests: GuestAuth,
        *,
        tickets: FixedWindowLimiter,
        max_body_bytes: int,
    ) -> None:
        self._sessions = guests.sessions
        self._guests = guests
        self._tickets = tickets
        self._max_body_bytes = max_body_bytes

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/embed/ticket", self.ticket, methods=["POST"]),
            Route("/embedded/session", self.open_session, methods=["POST"]),
            Route("/embedded/logout", self.logout, methods=["POST"]),
        ]

    async def ticket(self, request: Request) -> Response:
        token = token_of(request)
        claims = await self._guests.bearer_claims(request, token)
        assert token is not None  # bearer_claims refuses a request without one
        await self._tickets.hit(f"{claims.tenant_id}:{claims.token_id}")
        ticket, expires_in = await self._sessions.issue_ticket(token, claims)
        return JSONResponse({"ticket": ticket, "expires_in": expires_in}, headers=NO_STORE)

    async def open_session(self, request: Request) -> Response:
        check_first_party(request)
        body = validate(TicketRedemption, await read_json(request, max_bytes=self._max_body_bytes))
        token = await self._sessions.redeem(body.ticket)
        if token is None:
            raise TicketInvalid("the ticket is unknown, already used or expired; ask the host for a new one")
        claims = await self._guests.verifier.verify_refreshing_keys(token)
        slot = slot_of(request.headers)
        previous = await self._sessions.resume(request.cookies.get(session_cookie_name(slot), ""))
        if previous is not None:
            await self._sessions.close(previous)
        session, cookie = await self._sessions.open(token, claims)
        return JSONResponse(
            {"csrf_token": session.csrf_token, "expires_at": int(session.expires_at)},
            headers={**NO_STORE, "Set-Cookie": session_cookie(cookie, slot)},
        )

    async def logout(self, request: Request) -> Response:
        check_first_party(request)
        slot = slot_of(request.headers)
        session = await self._sessions.resume(request.cookies.get(session_cookie_name(slot), ""))
        if session is not None:
            check_csrf(request, session)
            await self._sessions.close(session)
        return Response(status_code=204, headers={"Set-Cookie": cleared_session_cookie(slot)})
