"""The registry's named errors; each carries the HTTP status and code the API answers with."""

from __future__ import annotations

from gateway.http.errors import ApiError


class RegistryError(ApiError):
    status = 500
    code = "registry_error"


class NotFound(RegistryError):
    status = 404
    code = "not_found"

    def __init__(self, kind: str, ref: object) -> None:
        super().__init__(f"{kind} {str(ref)[:100]!r} does not exist")
        self.kind = kind
        self.ref = ref


class TenantSuspended(RegistryError):
    status = 403
    code = "tenant_suspended"

    def __init__(self, slug: str) -> None:
        super().__init__(f"tenant {slug!r} is suspended")
        self.slug = slug


class Invalid(RegistryError):
    status = 422
    code = "invalid_field"


class Conflict(RegistryError):
    status = 409
    code = "conflict"


class PreconditionFailed(RegistryError):
    status = 412
    code = "precondition_failed"
