"""OpenAPI description of the onboarding API, derived from the resources and their body models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from tenants.api import (
    DATASET_REFRESH_PATH,
    KEY_ROTATION_PATH,
    WEBHOOK_ROTATION_PATH,
    collection_methods,
    item_methods,
    resource_paths,
)
from tenants.resources import NESTED, TENANTS, Resource
from tenants.schemas import KeyRotation

_SCHEMA_REF = "#/components/schemas/{model}"
_ERRORS = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "404": {"$ref": "#/components/responses/Error"},
    "422": {"$ref": "#/components/responses/Error"},
}


def onboarding_paths() -> tuple[dict[str, Any], dict[str, Any]]:
    """The `paths` and the `components.schemas` of every onboarding route."""
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for resource in (TENANTS, *NESTED):
        collection, item = resource_paths(resource)
        paths[collection] = {
            m.lower(): _operation(resource, m, item=False, schemas=schemas)
            for m in collection_methods(resource)
        }
        paths[item] = {
            m.lower(): _operation(resource, m, item=True, schemas=schemas) for m in item_methods(resource)
        }
    paths[KEY_ROTATION_PATH] = {
        "post": {
            "summary": "Rotate the tenant's signing key",
            "description": "The active key turns retiring and verifies until its tokens expire.",
            "tags": ["onboarding"],
            "security": [{"adminToken": []}],
            "parameters": [_path_param("tenant", "The tenant's slug (its id works too).")],
            "requestBody": {**_body(KeyRotation, schemas), "required": False},
            "responses": {"201": {"description": "The new key.", "content": _json_object()}, **_ERRORS},
        }
    }
    paths[DATASET_REFRESH_PATH] = _item_action(
        "Read the dataset's columns from its warehouse again",
        "Stores the table's (or the virtual dataset's) current column names and types. "
        "422 table_not_found when the table is gone; 502 warehouse_error when the warehouse "
        "cannot be reached; nothing changes in either case.",
        "The dataset with its new columns.",
        failures=("412", "502"),
    )
    paths[WEBHOOK_ROTATION_PATH] = _item_action(
        "Replace the webhook's signing secret",
        "The new secret signs every delivery from now on; it is in this answer only.",
        "The webhook, with its new `secret`.",
        failures=("412",),
    )
    return paths, schemas


def _item_action(summary: str, description: str, answer: str, *, failures: tuple[str, ...]) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "description": description,
            "tags": ["onboarding"],
            "security": [{"adminToken": []}],
            "parameters": [
                _path_param("tenant", "The tenant's slug (its id works too)."),
                _path_param("ref", "The item's identifier."),
                {"name": "If-Match", "in": "header", "schema": {"type": "string"}},
            ],
            "responses": {
                "200": {"description": answer, "content": _json_object()},
                **{status: {"$ref": "#/components/responses/Error"} for status in failures},
                **_ERRORS,
            },
        }
    }


def _body(model: type[BaseModel], schemas: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_SCHEMA_REF)
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": _SCHEMA_REF.format(model=model.__name__)}}},
    }


def _parameters(resource: Resource, *, item: bool, method: str) -> list[dict[str, Any]]:
    parameters: list[dict[str, Any]] = []
    if resource is not TENANTS or item:
        parameters.append(_path_param("tenant", "The tenant's slug (its id works too)."))
    if item and resource is not TENANTS:
        parameters.append(_path_param("ref", f"The {resource.kind}'s identifier."))
    if not item and method == "GET":
        parameters.append(
            {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 200}}
        )
        parameters.append({"name": "cursor", "in": "query", "schema": {"type": "string"}})
    if not item and method == "POST":
        parameters.append(
            {"name": "Idempotency-Key", "in": "header", "schema": {"type": "string", "maxLength": 255}}
        )
    if item and method in ("PATCH", "DELETE"):
        parameters.append({"name": "If-Match", "in": "header", "schema": {"type": "string"}})
    return parameters


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _operation(resource: Resource, method: str, *, item: bool, schemas: dict[str, Any]) -> dict[str, Any]:
    noun = resource.kind
    summaries = {
        ("GET", False): f"List {resource.collection}",
        ("POST", False): f"Create a {noun}",
        ("GET", True): f"Read a {noun}",
        ("PATCH", True): f"Change a {noun}",
        ("DELETE", True): f"Delete a {noun}",
    }
    operation: dict[str, Any] = {
        "summary": summaries[(method, item)],
        "tags": ["onboarding"],
        "security": [{"adminToken": []}],
        "parameters": _parameters(resource, item=item, method=method),
        "responses": dict(_ERRORS),
    }
    if method == "POST" and resource.create_body is not None:
        operation["requestBody"] = _body(resource.create_body, schemas)
        operation["responses"]["201"] = {"description": f"The new {noun}.", "content": _json_object()}
        operation["responses"]["409"] = {"$ref": "#/components/responses/Error"}
    elif method == "PATCH" and resource.update_body is not None:
        operation["requestBody"] = _body(resource.update_body, schemas)
        operation["responses"]["200"] = {"description": f"The changed {noun}.", "content": _json_object()}
        operation["responses"]["412"] = {"$ref": "#/components/responses/Error"}
    elif method == "DELETE":
        operation["responses"]["204"] = {"description": "Deleted."}
        operation["responses"]["412"] = {"$ref": "#/components/responses/Error"}
    else:
        operation["responses"]["200"] = {
            "description": f"The {noun}." if item else "A page of items and next_cursor.",
            "content": _json_object(),
        }
    return operation


def _json_object() -> dict[str, Any]:
    return {"application/json": {"schema": {"type": "object"}}}
