"""The guest-token API of host-app backends: mint, revoke, and the public keys to check tokens with.

`POST /api/v1/security/guest_token/` answers Superset's `{"token": ...}`, so a host app written for
Superset works unchanged. Both endpoints are server-to-server: they send no CORS headers.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import Field, StrictFloat, StrictInt, StringConstraints, model_validator
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.bus.events import Event, EventBus
from gateway.events.audit_trail import AuditTrail
from gateway.host_api.access_tokens import AccessTokens, InvalidAccessToken
from gateway.host_api.mint_request import GuestTokenRequest, InvalidMintRequest, prepare
from gateway.http.bodies import StrictModel, read_json, validate
from gateway.http.rate_limit import FixedWindowLimiter
from gateway.replica.keys import TenantKeys
from gateway.telemetry import logs
from gateway.telemetry.metrics import Metrics
from gateway.tokens.mint import mint_guest_token
from gateway.tokens.revocation import RevocationRecord, RevocationStore
from tenants.errors import NotFound
from tenants.store import RegistryStore

NO_STORE = {"Cache-Control": "no-store"}


class RevokeRequest(StrictModel):
    jti: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = None
    sub: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    issued_before: StrictInt | StrictFloat | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if sum(v is not None for v in (self.jti, self.sub, self.issued_before)) != 1:
            raise ValueError("give exactly one of jti, sub or issued_before")
        return self


class GuestTokenApi:
    def __init__(
        self,
        *,
        store: RegistryStore,
        keys: TenantKeys,
        access_tokens: AccessTokens,
        limiter: FixedWindowLimiter,
        revocations: RevocationStore,
        bus: EventBus,
        audit: AuditTrail,
        metrics: Metrics,
        issuer: str,
        audience: str,
        max_body_bytes: int,
    ) -> None:
        self._store = store
        self._keys = keys
        self._access = access_tokens
        self._limiter = limiter
        self._revocations = revocations
        self._bus = bus
        self._audit_trail = audit
        self._tokens_minted = metrics.tokens_minted
        self._issuer = issuer
        self._audience = audience
        self._max_body_bytes = max_body_bytes

    def routes(self) -> list[Route]:
        return [
            Route("/api/v1/security/guest_token/", self.mint, methods=["POST"]),
            Route("/api/v1/security/guest_token", self.mint, methods=["POST"]),
            Route("/api/v1/security/guest_token/revoke", self.revoke, methods=["POST"]),
            Route("/.well-known/jwks.json", self.jwks, methods=["GET"]),
        ]

    async def mint(self, request: Request) -> Response:
        grant = await self._access.require(request, "guest_token:create")
        logs.bind_tenant(grant.tenant_id)
        await self._require_active_app(grant.client_id)
        await self._limiter.hit(grant.client_id)
        tenant = await self._store.active_tenant(grant.tenant_id)
        body = validate(GuestTokenRequest, await read_json(request, max_bytes=self._max_body_bytes))
        prepared = await prepare(body, tenant, self._store)
        key = await self._keys.signing_key(tenant.id)
        try:
            minted = mint_guest_token(
                key,
                issuer=self._issuer,
                audience=self._audience,
                subject=prepared.user.username,
                user=prepared.user,
                resources=prepared.resources,
                rls_rules=prepared.rules,
                ttl=prepared.ttl,
                origins=prepared.origins,
            )
        except ValueError as exc:
            raise InvalidMintRequest(str(exc), code="token_too_large") from None
        self._tokens_minted.inc()
        self._audit_trail.record(
            Event(
                "token.minted",
                tenant.id,
                {
                    "client_id": grant.client_id,
                    "sub": minted.claims.subject,
                    "jti": minted.claims.token_id,
                    "exp": minted.claims.expires_at,
                    "kid": key.kid,
                },
            )
        )
        return JSONResponse({"token": minted.token}, headers=NO_STORE)

    async def revoke(self, request: Request) -> Response:
        grant = await self._access.require(request, "guest_token:revoke")
        logs.bind_tenant(grant.tenant_id)
        await self._require_active_app(grant.client_id)
        body = validate(RevokeRequest, await read_json(request, max_bytes=self._max_body_bytes))
        tenant = grant.tenant_id
        record: RevocationRecord
        if body.jti is not None:
            record = await self._revocations.revoke_token(tenant, body.jti)
        elif body.sub is not None:
            record = await self._revocations.revoke_subject(tenant, body.sub)
        else:
            try:
                record = await self._revocations.revoke_issued_before(tenant, body.issued_before)
            except ValueError as exc:
                raise InvalidMintRequest(str(exc), field="issued_before") from None
        await self._bus.publish("revocations", Event("token.revoked", tenant, {"record": record.to_json()}))
        self._audit_trail.record(
            Event(
                "token.revoked", tenant, {"client_id": grant.client_id, **body.model_dump(exclude_none=True)}
            )
        )
        return JSONResponse({"revoked": body.model_dump(exclude_none=True)}, headers=NO_STORE)

    async def jwks(self, _request: Request) -> Response:
        return JSONResponse(await self._keys.jwks(), headers={"Cache-Control": "public, max-age=60"})

    async def _require_active_app(self, client_id: str) -> None:
        try:
            app = await self._store.app(client_id)
        except NotFound:
            app = None
        if app is None or app.status != "active":
            raise InvalidAccessToken("the app behind this access token is disabled or gone")
