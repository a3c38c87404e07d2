"""The onboarding API: `/api/v1/tenants` and its nested collections, all behind the admin token.

Every collection answers GET (paginated) and POST (201, `Location`, honours `Idempotency-Key`);
every item answers GET (with `ETag`), PATCH and DELETE (both honour `If-Match`, 412 on mismatch).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from pydantic import SecretStr
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.http.bodies import read_json, validate
from gateway.http.errors import ApiError
from tenants.admin_auth import AdminAuthMiddleware
from tenants.errors import NotFound
from tenants.registry import IdempotencyKey, Outcome, Registry, request_hash
from tenants.resources import NESTED, TENANTS, Resource
from tenants.schemas import ActionBody, KeyRotation

Endpoint = Callable[[Request], Awaitable[Response]]
ADMIN_PREFIX: Final = "/api/v1/tenants"
DEFAULT_PAGE: Final = 50
MAX_IDEMPOTENCY_KEY: Final = 255


def _respond(outcome: Outcome) -> Response:
    headers = {"Cache-Control": "no-store"}
    if outcome.etag:
        headers["ETag"] = outcome.etag
    if outcome.location:
        headers["Location"] = outcome.location
    if outcome.body is None:
        return Response(status_code=outcome.status, headers=headers)
    return JSONResponse(outcome.body, status_code=outcome.status, headers=headers)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", str(DEFAULT_PAGE))
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4):
        raise ApiError("limit must be a whole number", code="invalid_field", status=422, field="limit")
    return int(raw)


def _idempotency(request: Request, body: Any) -> IdempotencyKey | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ApiError(
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters",
            code="invalid_field",
            status=422,
            field="Idempotency-Key",
        )
    return IdempotencyKey(key, request_hash(body))


def _path_ref(request: Request, name: str) -> str:
    """A path identifier; one no entity could have (control characters, overlong) is simply not found."""
    ref: str = request.path_params[name]
    if len(ref) > 255 or not ref.isprintable():
        raise NotFound("entity", ref[:32])
    return ref


def collection_endpoint(registry: Registry, resource: Resource, *, max_bytes: int) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        tenant_ref = _path_ref(request, "tenant") if "tenant" in request.path_params else None
        if request.method == "GET":
            cursor = request.query_params.get("cursor")
            return _respond(await registry.list(resource, tenant_ref, limit=_limit(request), cursor=cursor))
        assert resource.create_body is not None, "routes() offers POST only where a body is defined"
        data = await read_json(request, max_bytes=max_bytes)
        body = validate(resource.create_body, data)
        outcome = await registry.create(
            resource,
            tenant_ref,
            body,
            location_prefix=request.url.path.rstrip("/"),
            idempotency=_idempotency(request, data),
        )
        return _respond(outcome)

    return endpoint


def item_endpoint(registry: Registry, resource: Resource, *, max_bytes: int) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        tenant_ref = _path_ref(request, "tenant")
        ref = _path_ref(request, "ref") if resource is not TENANTS else tenant_ref
        if_match = request.headers.get("if-match")
        if request.method == "GET":
            return _respond(await registry.get(resource, tenant_ref, ref))
        if request.method == "PATCH":
            assert resource.update_body is not None, "routes() offers PATCH only where a body is defined"
            body = validate(resource.update_body, await read_json(request, max_bytes=max_bytes))
            return _respond(await registry.update(resource, tenant_ref, ref, body, if_match=if_match))
        return _respond(await registry.delete(resource, tenant_ref, ref, if_match=if_match))

    return endpoint


def collection_methods(resource: Resource) -> list[str]:
    return ["GET", "POST"] if resource.create_body is not None else ["GET"]


def item_methods(resource: Resource) -> list[str]:
    return (
        ["GET"]
        + (["PATCH"] if resource.update_body is not None else [])
        + (["DELETE"] if resource.deletable else [])
    )


def resource_paths(resource: Resource) -> tuple[str, str]:
    """The collection and item paths of `resource`."""
    if resource is TENANTS:
        return ADMIN_PREFIX, ADMIN_PREFIX + "/{tenant}"
    base = f"{ADMIN_PREFIX}/{{tenant}}/{resource.collection}"
    return base, base + "/{ref}"


KEY_ROTATION_PATH: Final = ADMIN_PREFIX + "/{tenant}/keys/rotate"


def key_rotation_endpoint(registry: Registry, *, max_bytes: int) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        has_body = request.headers.get("content-length", "0") != "0" or "content-type" in request.headers
        body = (
            validate(KeyRotation, await read_json(request, max_bytes=max_bytes))
            if has_body
            else KeyRotation()
        )
        return _respond(await registry.rotate_key(_path_ref(request, "tenant"), algorithm=body.algorithm))

    return endpoint


DATASET_REFRESH_PATH: Final = ADMIN_PREFIX + "/{tenant}/datasets/{ref}/refresh-columns"
WEBHOOK_ROTATION_PATH: Final = ADMIN_PREFIX + "/{tenant}/webhooks/{ref}/rotate-secret"
ItemAction = Callable[..., Awaitable[Outcome]]


def item_action_endpoint(action: ItemAction, *, max_bytes: int) -> Endpoint:
    """POST on an item's action: no body (an empty object at most), If-Match honoured."""

    async def endpoint(request: Request) -> Response:
        if request.headers.get("content-length", "0") != "0" or "content-type" in request.headers:
            validate(ActionBody, await read_json(request, max_bytes=max_bytes))
        return _respond(
            await action(
                _path_ref(request, "tenant"),
                _path_ref(request, "ref"),
                if_match=request.headers.get("if-match"),
            )
        )

    return endpoint


def routes(registry: Registry, *, max_bytes: int, admin_token: SecretStr) -> list[Route]:
    """Every onboarding route, each behind the admin token."""
    admin = [Middleware(AdminAuthMiddleware, token=admin_token)]
    found = [
        Route(
            KEY_ROTATION_PATH,
            key_rotation_endpoint(registry, max_bytes=max_bytes),
            methods=["POST"],
            middleware=admin,
        ),
        Route(
            DATASET_REFRESH_PATH,
            item_action_endpoint(registry.refresh_columns, max_bytes=max_bytes),
            methods=["POST"],
            middleware=admin,
        ),
        Route(
            WEBHOOK_ROTATION_PATH,
            item_action_endpoint(registry.rotate_webhook_secret, max_bytes=max_bytes),
            methods=["POST"],
            middleware=admin,
        ),
    ]
    for resource in (TENANTS, *NESTED):
        collection, item = resource_paths(resource)
        found.append(
            Route(
                collection,
                collection_endpoint(registry, resource, max_bytes=max_bytes),
                methods=collection_methods(resource),
                middleware=admin,
            )
        )
        found.append(
            Route(
                item,
                item_endpoint(registry, resource, max_bytes=max_bytes),
                methods=item_methods(resource),
                middleware=admin,
            )
        )
    return found
