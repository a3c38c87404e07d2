"""The OpenAPI 3.1 document served at /openapi.json, assembled from each plane's own description."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from gateway import __version__
from gateway.data.api import ChartDataRequest, QueryRequest
from gateway.embed.session_api import TicketRedemption
from gateway.host_api.mint_api import RevokeRequest
from gateway.host_api.mint_request import GuestTokenRequest

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string"},
            },
        }
    },
}

GATEWAY_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "The process is up",
            "tags": ["operations"],
            "responses": {"200": {"description": "Up."}},
        }
    },
    "/readyz": {
        "get": {
            "summary": "The registry (and Redis, when configured) answer",
            "tags": ["operations"],
            "responses": {
                "200": {"description": "Ready."},
                "503": {
                    "description": "A dependency is unreachable, or the process is draining for shutdown."
                },
            },
        }
    },
    "/openapi.json": {
        "get": {
            "summary": "This document",
            "tags": ["operations"],
            "responses": {"200": {"description": "OpenAPI 3.1."}},
        }
    },
}


def _json_body(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
    }


def _operation(summary: str, tag: str, responses: dict[str, str], **extra: Any) -> dict[str, Any]:
    described = {status: {"description": text} for status, text in responses.items()}
    return {"summary": summary, "tags": [tag], "responses": described, **extra}


def data_plane_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """Host-app and embedded-dashboard routes: OAuth, guest tokens, keys, dashboards."""
    schemas: dict[str, Any] = {}
    mint = _operation(
        "Mint a guest token (Superset-compatible)",
        "guest tokens",
        {
            "200": '{"token": "<JWT>"}',
            "401": "No valid access token.",
            "403": "Scope missing or tenant suspended.",
            "422": "A resource, rule, ttl or origin was refused; `field` names it.",
            "429": "Mint rate limit; see Retry-After.",
        },
        security=[{"accessToken": ["guest_token:create"]}],
        requestBody=_json_body(GuestTokenRequest, schemas),
    )
    token_form = {
        "type": "object",
        "required": ["grant_type"],
        "properties": {
            "grant_type": {"const": "client_credentials"},
            "scope": {"type": "string"},
            "client_id": {"type": "string"},
            "client_secret": {"type": "string"},
        },
    }
    paths = {
        "/oauth/token": {
            "post": _operation(
                "OAuth2 client-credentials grant for host-app backends",
                "guest tokens",
                {"200": "An access token.", "400": "RFC 6749 error.", "401": "invalid_client"},
                requestBody={
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": token_form}},
                },
            )
        },
        "/api/v1/security/guest_token/": {"post": mint},
        "/api/v1/security/guest_token": {"post": mint},
        "/api/v1/security/guest_token/revoke": {
            "post": _operation(
                "Revoke guest tokens by jti, by subject, or issued before a time",
                "guest tokens",
                {
                    "200": "Revoked.",
                    "401": "No valid access token.",
                    "403": "Scope missing.",
                    "422": "Bad request.",
                },
                security=[{"accessToken": ["guest_token:revoke"]}],
                requestBody=_json_body(RevokeRequest, schemas),
            )
        },
        "/.well-known/jwks.json": {
            "get": _operation(
                "Public keys of every tenant (active and retiring)", "guest tokens", {"200": "A JWK set."}
            )
        },
        "/api/v1/chart/data": {
            "post": _operation(
                "A chart's rows, filtered to what the guest token's user may see",
                "embedded",
                {
                    "200": "columns, rows, rowcount, cached, query_ms.",
                    "401": "Guest token refused.",
                    "403": "Chart not granted, or the query cannot be filtered safely.",
                    "422": "A filter names an unknown column or has a value unfit for its operator.",
                    "429": "The tenant's (or user's) request rate or warehouse query slots; see Retry-After.",
                    "502": "The warehouse failed (sanitised message).",
                    "503": "Revocation state unavailable.",
                    "504": "The warehouse timed out; the query was cancelled.",
                },
                security=[{"guestToken": []}],
                requestBody=_json_body(ChartDataRequest, schemas),
            )
        },
        "/api/v1/query": {
            "post": _operation(
                "Ad-hoc SQL over the datasets the guest token lists, under row-level security",
                "embedded",
                {
                    "200": "columns, rows, rowcount, cached, query_ms.",
                    "401": "Guest token refused.",
                    "403": "A table, statement or function the token may not use (code says which).",
                    "429": "The tenant's (or user's) request rate or warehouse query slots; see Retry-After.",
                    "502": "The warehouse failed (sanitised message).",
                    "504": "The warehouse timed out; the query was cancelled.",
                },
                security=[{"guestToken": []}],
                requestBody=_json_body(QueryRequest, schemas),
            )
        },
        "/api/v1/dashboard/{ref}": {
            "get": _operation(
                "A dashboard as the guest token may see it",
                "embedded",
                {
                    "200": "Title, layout and charts.",
                    "401": "Guest token refused.",
                    "403": "Not granted by the token.",
                },
                security=[{"guestToken": []}],
                parameters=[{"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}],
            )
        },
        "/api/v1/embed/ticket": {
            "post": _operation(
                "Session mode: trade a guest token for a one-time ticket (server to server, no CORS)",
                "embedded",
                {
                    "200": '{"ticket", "expires_in"}: usable once, within expires_in seconds (60).',
                    "401": "Guest token refused.",
                    "403": "origin_forbidden.",
                },
                security=[{"guestToken": []}],
            )
        },
        "/embedded/session": {
            "post": _operation(
                "Session mode: the embedded page redeems a ticket for a session cookie",
                "embedded",
                {
                    "200": '{"csrf_token", "expires_at"} and the cookie __Host-gw_session (Secure, HttpOnly, '
                    "SameSite=None, Partitioned; with X-Embed-Slot, a cookie of that slot's own); send "
                    "X-CSRF-Token on POSTs made with it, and the same X-Embed-Slot on every request.",
                    "401": "ticket_invalid (unknown, used or expired), or the token's own refusal.",
                    "403": "origin_forbidden: only the gateway's own page may open a session.",
                },
                requestBody=_json_body(TicketRedemption, schemas),
            )
        },
        "/embedded/logout": {
            "post": _operation(
                "Session mode: end the session and clear its cookie",
                "embedded",
                {"204": "Ended (or there was none).", "403": "csrf_failed or origin_forbidden."},
                security=[{"sessionCookie": []}],
            )
        },
    }
    for path in ("/api/v1/chart/data", "/api/v1/query", "/api/v1/dashboard/{ref}"):
        for operation in paths[path].values():
            # Session mode: the cookie instead of the bearer token (with X-CSRF-Token on POST).
            operation["security"] = [*operation["security"], {"sessionCookie": []}]
    return paths, schemas


def build_document(sections: Iterable[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    paths: dict[str, Any] = dict(GATEWAY_PATHS)
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for section_paths, section_schemas in sections:
        paths.update(section_paths)
        schemas.update(section_schemas)
    error_response = {
        "description": "An error.",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Embedded-analytics token gateway", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": error_response,
                "Unauthorized": {**error_response, "description": "Missing or wrong credential."},
            },
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "GATEWAY_ADMIN_TOKEN"},
                "accessToken": {"type": "http", "scheme": "bearer", "description": "From /oauth/token"},
                "guestToken": {"type": "http", "scheme": "bearer", "description": "A guest token"},
                "sessionCookie": {
                    "type": "apiKey",
                    "in": "cookie",
                    "name": "__Host-gw_session",
                    "description": "Session mode, from POST /embedded/session (a page sending X-Embed-Slot "
                    "gets a cookie of its own, __Host-gw_session_<hash of the slot>)",
                },
            },
        },
    }
