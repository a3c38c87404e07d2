"""OAuth2 access tokens of host-app backends: opaque, short-lived, kept in Redis (or in process).

Only a SHA-256 of each token is stored, so a dump of Redis yields no usable credential. Every
replica sharing the Redis accepts a token that any of them issued.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

from redis.asyncio import Redis
from starlette.requests import Request

from gateway.http.errors import ApiError


@dataclass(frozen=True, slots=True)
class AccessGrant:
    client_id: str
    tenant_id: str
    scopes: frozenset[str]
    expires_at: float


class InvalidAccessToken(ApiError):
    status = 401
    code = "invalid_token"


class InsufficientScope(ApiError):
    status = 403
    code = "insufficient_scope"


class AccessTokens:
    def __init__(self, redis: Redis | None, *, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._local: dict[str, AccessGrant] = {}

    async def save(self, token: str, grant: AccessGrant) -> None:
        digest = _digest(token)
        if self._redis is None:
            self._forget_expired()
            self._local[digest] = grant
            return
        record = {"client_id": grant.client_id, "tenant_id": grant.tenant_id, "scopes": sorted(grant.scopes)}
        await self._redis.set(self._key(digest), json.dumps(record), ex=self.ttl_seconds)

    async def grant(self, token: str) -> AccessGrant | None:
        digest = _digest(token)
        if self._redis is None:
            grant = self._local.get(digest)
            return grant if grant is not None and grant.expires_at > time.time() else None
        key = self._key(digest)
        raw = await self._redis.get(key)
        if raw is None:
            return None
        ttl = await self._redis.ttl(key)
        record = json.loads(raw)
        return AccessGrant(
            record["client_id"], record["tenant_id"], frozenset(record["scopes"]), time.time() + ttl
        )

    async def require(self, request: Request, scope: str) -> AccessGrant:
        """The caller's grant, which must carry `scope`; 401 or 403 otherwise."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise InvalidAccessToken("send an access token from /oauth/token as Authorization: Bearer")
        grant = await self.grant(token.strip())
        if grant is None:
            raise InvalidAccessToken("the access token is unknown or expired")
        if scope not in grant.scopes:
            raise InsufficientScope(f"the access token lacks the {scope!r} scope")
        return grant

    def _key(self, digest: str) -> str:
        return f"{self._prefix}oauth:{digest}"

    def _forget_expired(self) -> None:
        now = time.time()
        for digest in [d for d, g in self._local.items() if g.expires_at <= now]:
            del self._local[digest]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
