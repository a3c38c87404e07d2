"""Session mode of embedding: a one-time ticket exchanged for a server-side session behind a cookie.

For host apps that cannot keep the guest token in the iframe's memory. The host backend mints a guest
token, trades it for a ticket (`POST /api/v1/embed/ticket`, valid `ticket_seconds`, usable once) and
hands only the ticket to the browser; the embedded page redeems it and gets a session cookie. The
session keeps the guest token server-side, so every request still verifies it (expiry, revocation,
tenant status), and is bound to its `jti`: revoking the token destroys its sessions.

A session ends after `idle_seconds` without use, after `max_seconds` in all, when its token expires,
on logout, or when a new ticket is redeemed in its place. The cookie holds only the session id and
its signature (HMAC-SHA256 under a key derived from GATEWAY_SECRET_KEY for this one purpose), so a
forged or altered cookie is refused before any lookup. Sessions live in Redis when it is configured
(shared by every replica), in process memory otherwise.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any, Final

from itsdangerous import Signer
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.http.errors import ApiError
from gateway.tokens.claims import GuestClaims
from gateway.tokens.revocation import RevocationRecord

SESSION_COOKIE: Final = "__Host-gw_session"
CSRF_HEADER: Final = "X-CSRF-Token"
# Which embedded dashboard a session request is for (the page sends its dashboard's id). Every frame the
# gateway serves on one host page shares one partitioned cookie jar, so each dashboard keeps its
# session under a cookie of its own, and requests say which one they mean.
SLOT_HEADER: Final = "X-Embed-Slot"
_SLOT: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
# `__Host-` requires Secure, Path=/ and no Domain; Partitioned keeps the cookie to the embedding site
# (CHIPS), which is what lets a third-party iframe keep it while third-party cookies are blocked.
COOKIE_ATTRIBUTES: Final = "Path=/; Secure; HttpOnly; SameSite=None; Partitioned"
# Derives the cookie signing key from GATEWAY_SECRET_KEY: a key of its own for this one purpose.
_SIGNING_SALT: Final = "embed-gateway session cookie"

logger = logging.getLogger("gateway.guest.sessions")


def session_cookie_name(slot: str | None) -> str:
    """The cookie of one embedding slot; without a slot, the one default cookie."""
    if slot is None:
        return SESSION_COOKIE
    return f"{SESSION_COOKIE}_{hashlib.sha256(slot.encode()).hexdigest()[:16]}"


def slot_of(headers: Mapping[str, str]) -> str | None:
    """The request's `X-Embed-Slot`, when it is one a cookie name may be derived from."""
    slot = headers.get(SLOT_HEADER)
    return slot if slot is not None and _SLOT.fullmatch(slot) else None


def session_cookie(value: str, slot: str | None = None) -> str:
    """The `Set-Cookie` value that stores `value` (a signed session id) for `slot`."""
    return f"{session_cookie_name(slot)}={value}; {COOKIE_ATTRIBUTES}"


def cleared_session_cookie(slot: str | None = None) -> str:
    return f"{session_cookie_name(slot)}=; {COOKIE_ATTRIBUTES}; Max-Age=0"


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    token: str  # the guest token, re-verified on every use
    csrf_token: str
    tenant_id: str
    token_id: str
    created_at: float
    expires_at: float  # absolute end: creation + max_seconds, never beyond the token's exp
    last_used_at: float

    def to_fields(self) -> dict[str, str]:
        return {name: str(value) for name, value in asdict(self).items()}

    @classmethod
    def from_fields(cls, fields: dict[str, str]) -> Session:
        return cls(
            id=fields["id"],
            token=fields["token"],
            csrf_token=fields["csrf_token"],
            tenant_id=fields["tenant_id"],
            token_id=fields["token_id"],
            created_at=float(fields["created_at"]),
            expires_at=float(fields["expires_at"]),
            last_used_at=float(fields["last_used_at"]),
        )


class SessionsUnavailable(ApiError):
    """Redis cannot be reached: no session can be opened or trusted, so none is used (fail closed)."""

    status = 503
    code = "sessions_unavailable"


@asynccontextmanager
async def _redis_errors() -> AsyncIterator[None]:
    try:
        yield
    except (RedisError, OSError):
        raise SessionsUnavailable("sessions are unavailable right now; try again later") from None


class SessionStore(ABC):
    """Where tickets and sessions live. `use` is the one call on the request path."""

    @abstractmethod
    async def put_ticket(self, ticket: str, token: str, *, ttl_seconds: float) -> None: ...

    @abstractmethod
    async def take_ticket(self, ticket: str) -> str | None:
        """The ticket's token, removing the ticket in the same step: a second call gets None."""

    @abstractmethod
    async def create(self, session: Session, *, idle_seconds: float) -> None: ...

    @abstractmethod
    async def use(self, session_id: str, *, now: float, idle_seconds: float) -> Session | None:
        """The session as it was before this use (None if unknown); records the use and restarts
        its idle timer."""

    @abstractmethod
    async def delete(self, session: Session) -> None: ...

    @abstractmethod
    async def delete_bound_to(self, tenant_id: str, token_id: str) -> None:
        """Delete every session opened with the tenant's token `token_id`."""


# KEYS[1] the session hash; ARGV[1] now, ARGV[2] the idle timeout in ms. Answers the fields as they
# were (empty when the session is gone) and, in the same step, records the use.
_USE_SCRIPT: Final = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return fields end
redis.call('HSET', KEYS[1], 'last_used_at', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return fields
"""


class RedisSessionStore(SessionStore):
    """Tickets as strings (GETDEL redeems them atomically), sessions as hashes whose TTL is the idle
    timer, and one set per token listing its sessions (for deleting them on revocation)."""

    def __init__(self, redis: Redis, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}embed:"
        self._use_script = redis.register_script(_USE_SCRIPT)

    def _ticket_key(self, ticket: str) -> str:
        # Hashed: a key listing in Redis does not reveal redeemable tickets.
        return f"{self._prefix}ticket:{hashlib.sha256(ticket.encode()).hexdigest()}"

    def _session_key(self, session_id: str) -> str:
        return f"{self._prefix}session:{session_id}"

    def _index_key(self, tenant_id: str, token_id: str) -> str:
        return f"{self._prefix}token-sessions:{tenant_id}:{token_id}"

    async def put_ticket(self, ticket: str, token: str, *, ttl_seconds: float) -> None:
        async with _redis_errors():
            await self._redis.set(self._ticket_key(ticket), token, px=_ms(ttl_seconds), nx=True)

    async def take_ticket(self, ticket: str) -> str | None:
        async with _redis_errors():
            token: bytes | str | None = await self._redis.getdel(self._ticket_key(ticket))
        return _text(token) if token is not None else None

    async def create(self, session: Session, *, idle_seconds: float) -> None:
        key, index = self._session_key(session.id), self._index_key(session.tenant_id, session.token_id)
        index_until_ms = math.ceil(session.expires_at * 1000)
        async with _redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=session.to_fields())  # type: ignore[arg-type]
            pipe.pexpire(key, _ms(min(idle_seconds, session.expires_at - session.created_at)))
            pipe.sadd(index, session.id)
            # NX sets a new index's TTL; GT lets a later, longer session extend it, never shorten it.
            pipe.pexpireat(index, index_until_ms, nx=True)
            pipe.pexpireat(index, index_until_ms, gt=True)
            await pipe.execute()

    async def use(self, session_id: str, *, now: float, idle_seconds: float) -> Session | None:
        async with _redis_errors():
            answer: Any = await self._use_script(
                keys=[self._session_key(session_id)], args=[repr(now), _ms(idle_seconds)]
            )
        if not answer:
            return None
        pairs = iter(_text(item) for item in answer)
        return Session.from_fields(dict(zip(pairs, pairs, strict=True)))

    async def delete(self, session: Session) -> None:
        async with _redis_errors(), self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._session_key(session.id))
            pipe.srem(self._index_key(session.tenant_id, session.token_id), session.id)
            await pipe.execute()

    async def delete_bound_to(self, tenant_id: str, token_id: str) -> None:
        index = self._index_key(tenant_id, token_id)
        members: set[bytes | str] = await self._redis.smembers(index)
        await self._redis.delete(index, *(self._session_key(_text(m)) for m in members))


class InProcessSessionStore(SessionStore):
    """Tickets and sessions in this process's memory, for the single-process mode without Redis."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tickets: dict[str, tuple[str, float]] = {}  # ticket -> (token, valid until)
        self._sessions: dict[str, Session] = {}
        self._by_token: dict[tuple[str, str], set[str]] = {}

    async def put_ticket(self, ticket: str, token: str, *, ttl_seconds: float) -> None:
        now = self._clock()
        self._tickets = {t: entry for t, entry in self._tickets.items() if entry[1] > now}
        self._tickets[ticket] = (token, now + ttl_seconds)

    async def take_ticket(self, ticket: str) -> str | None:
        entry = self._tickets.pop(ticket, None)
        return entry[0] if entry is not None and entry[1] > self._clock() else None

    async def create(self, session: Session, *, idle_seconds: float) -> None:
        now = self._clock()
        for stale in [s for s in self._sessions.values() if _ended(s, now, idle_seconds)]:
            await self.delete(stale)
        self._sessions[session.id] = session
        self._by_token.setdefault((session.tenant_id, session.token_id), set()).add(session.id)

    async def use(self, session_id: str, *, now: float, idle_seconds: float) -> Session | None:
        session = self._sessions.get(session_id)
        if session is not None:
            self._sessions[session_id] = replace(session, last_used_at=now)
        return session

    async def delete(self, session: Session) -> None:
        self._sessions.pop(session.id, None)
        self._by_token.get((session.tenant_id, session.token_id), set()).discard(session.id)

    async def delete_bound_to(self, tenant_id: str, token_id: str) -> None:
        for session_id in self._by_token.pop((tenant_id, token_id), set()):
            self._sessions.pop(session_id, None)


class EmbedSessions:
    """Tickets, sessions and their cookies, with the timeouts of the gateway's settings."""

    def __init__(
        self,
        store: SessionStore,
        *,
        secret_key: str,
        ticket_seconds: float,
        idle_seconds: float,
        max_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._signer = Signer(
            secret_key, salt=_SIGNING_SALT, key_derivation="hmac", digest_method=hashlib.sha256
        )
        self._ticket_seconds = ticket_seconds
        self._idle_seconds = idle_seconds
        self._max_seconds = max_seconds
        self._clock = clock
        self._pending: set[asyncio.Task[None]] = set()

    async def issue_ticket(self, token: str, claims: GuestClaims) -> tuple[str, int]:
        """A new one-time ticket for `token` and its life in seconds (never beyond the token's)."""
        ttl = min(self._ticket_seconds, claims.expires_at - self._clock())
        ticket = secrets.token_urlsafe(32)
        await self._store.put_ticket(ticket, token, ttl_seconds=max(ttl, 0.001))
        return ticket, max(0, math.floor(ttl))

    async def redeem(self, ticket: str) -> str | None:
        """The token a ticket was issued for, once; None for an unknown, used or expired ticket."""
        return await self._store.take_ticket(ticket)

    async def open(self, token: str, claims: GuestClaims) -> tuple[Session, str]:
        """A new session for a verified token, and the cookie value that names it."""
        now = self._clock()
        session = Session(
            id=secrets.token_urlsafe(32),
            token=token,
            csrf_token=secrets.token_urlsafe(32),
            tenant_id=claims.tenant_id,
            token_id=claims.token_id,
            created_at=now,
            expires_at=min(now + self._max_seconds, claims.expires_at),
            last_used_at=now,
        )
        await self._store.create(session, idle_seconds=self._idle_seconds)
        return session, self._signer.sign(session.id).decode("ascii")

    async def resume(self, cookie: str) -> Session | None:
        """The live session a cookie names, its use recorded; None when forged, unknown or ended."""
        session_id = self._verified_id(cookie)
        if session_id is None:
            return None
        now = self._clock()
        session = await self._store.use(session_id, now=now, idle_seconds=self._idle_seconds)
        if session is None:
            return None
        if _ended(session, now, self._idle_seconds):
            await self._store.delete(session)
            return None
        return session

    async def close(self, session: Session) -> None:
        await self._store.delete(session)

    def forget_revoked(self, record: RevocationRecord) -> None:
        """Revocation listener: delete the sessions of a revoked `jti` now, in the background.

        Sessions of tokens revoked by subject or by time are refused (and deleted) at their next use,
        when their token fails verification; only a `jti` has an index to find them by.
        """
        if record.kind != "token":
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        task = loop.create_task(self._delete_bound_to(record.tenant_id, record.subject))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _delete_bound_to(self, tenant_id: str, token_id: str) -> None:
        try:
            await self._store.delete_bound_to(tenant_id, token_id)
        except Exception:
            # Not a hole: the next use of such a session verifies the revoked token and deletes it.
            logger.warning("could not delete the sessions of a revoked token", exc_info=True)

    def _verified_id(self, cookie: str) -> str | None:
        # Not `Signer.unsign`: it also takes other spellings of a signature (padded, with characters
        # it skips, or other values of the unused low bits of its last character). Only the cookie
        # exactly as issued names a session.
        session_id = cookie.partition(".")[0]
        return session_id if hmac.compare_digest(self._signer.sign(session_id), cookie.encode()) else None


def _ended(session: Session, now: float, idle_seconds: float) -> bool:
    return now >= session.expires_at or now - session.last_used_at > idle_seconds


def _ms(seconds: float) -> int:
    return max(1, math.ceil(seconds * 1000))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
