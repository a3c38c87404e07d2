"""Reading request bodies: JSON only, bounded in size, validated into a pydantic model.

A validation failure names the first offending field and never echoes the submitted value, which
may be a secret.
"""

from __future__ import annotations

import json
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import ClientDisconnect, Request

from gateway.http.errors import ApiError
from gateway.http.headers import header

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictModel(BaseModel):
    """A request body: unknown fields are refused, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


async def read_json(request: Request, *, max_bytes: int) -> Any:
    return parse_json(await read_json_bytes(request, max_bytes=max_bytes))


async def read_json_bytes(request: Request, *, max_bytes: int) -> bytes:
    """The body of a JSON request, unparsed (its content type and size checked)."""
    content_type = (header(request.scope, b"content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError("send the body as application/json", code="unsupported_media_type", status=415)
    declared = header(request.scope, b"content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > max_bytes):
        raise ApiError(f"the body exceeds {max_bytes} bytes", code="body_too_large", status=413)
    return await _body(request, max_bytes)


def parse_json(raw: bytes) -> Any:
    if b"\\u0000" in raw:
        # Databases refuse NUL in text; refuse it here rather than fail deep inside a write.
        raise ApiError("strings must not contain NUL characters", code="invalid_json")
    try:
        # JSON over a network is UTF-8 (RFC 8259), and a parser may skip a byte order mark.
        return _DECODER.decode(raw.decode("utf-8-sig"))
    except (ValueError, RecursionError):  # UnicodeDecodeError included
        raise ApiError("the body is not valid JSON", code="invalid_json") from None


async def _body(request: Request, max_bytes: int) -> bytes:
    # The ASGI messages read directly: most bodies arrive in one, and this runs on every data request.
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(f"the body exceeds {max_bytes} bytes", code="body_too_large", status=413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# One decoder for every body: `json.loads` with an option builds a new one (and its scanner) per call.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)


def validate(model: type[ModelT], data: Any) -> ModelT:
    if not isinstance(data, dict):
        raise ApiError("the body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _first_problem(exc) from None


def _field_path(location: tuple[int | str, ...]) -> str | None:
    """`("query", "metrics", 0, "column")` -> `query.metrics[0].column`."""
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or None


def _first_problem(exc: ValidationError) -> ApiError:
    problem = exc.errors(include_url=False, include_input=False)[0]
    field = _field_path(problem["loc"])
    kind = problem["type"]
    if kind == "extra_forbidden":
        return ApiError(f"unknown field {field!r}", code="unknown_field", status=422, field=field)
    if kind == "missing":
        return ApiError(f"{field} is required", code="missing_field", status=422, field=field)
    message = problem["msg"].removeprefix("Value error, ")
    return ApiError(
        f"{field}: {message}" if field else message, code="invalid_field", status=422, field=field
    )
