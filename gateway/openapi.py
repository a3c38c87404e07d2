"""The OpenAPI 3.1 document served at /openapi.json, assembled from each plane's own description."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gateway import __version__

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
                "503": {"description": "A dependency is unreachable."},
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
                "adminToken": {"type": "http", "scheme": "bearer", "description": "GATEWAY_ADMIN_TOKEN"}
            },
        },
    }
