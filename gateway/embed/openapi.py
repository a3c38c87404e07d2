"""The embedding routes as `gateway.service.openapi.build_document` takes a section: (paths, schemas)."""

from __future__ import annotations

from typing import Any


def _get(summary: str, parameters: list[str], responses: dict[str, str]) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": ["embedded"],
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                for name in parameters
            ],
            "responses": {status: {"description": text} for status, text in responses.items()},
        }
    }


def openapi_section() -> tuple[dict[str, Any], dict[str, Any]]:
    paths = {
        "/embedded/{ref}": _get(
            "The page an iframe shows: waits for the SDK's handshake, then draws the dashboard",
            ["ref"],
            {
                "200": "HTML. Its CSP's frame-ancestors lists the origins of the dashboard's tenant "
                "('none' for a dashboard that does not exist or whose tenant is suspended).",
            },
        ),
        "/embedded/assets/{version}/{name}": _get(
            "The page's scripts and styles, addressed by a version made from their contents",
            ["version", "name"],
            {"200": "JavaScript or CSS, cached for good (immutable).", "404": "Unknown file or version."},
        ),
        "/sdk/{name}": _get(
            "The embed SDK: embed.js (an ES module) and embed.d.ts (its types)",
            ["name"],
            {
                "200": "Cached 5 minutes, revalidated by ETag; any origin may load it (CORS *).",
                "304": "Unchanged since the ETag sent in If-None-Match.",
                "404": "No such file.",
            },
        ),
    }
    return paths, {}
