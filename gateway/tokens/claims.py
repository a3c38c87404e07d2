"""The guest-token claim set, typed: built for minting, parsed (strictly) after a signature verifies.

Parsing is strict because an HS256 tenant holds its signing secret and can sign any payload it likes: a
claim of the wrong shape must be refused here, not discovered later by the data plane.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, TypeGuard, cast

from gateway.tokens.errors import MalformedToken, MissingClaim

GUEST_TOKEN_TYPE: Final = "guest"  # noqa: S105 - the `type` claim's value, not a secret
ResourceType = Literal["dashboard", "chart", "dataset"]
RESOURCE_TYPES: Final[frozenset[str]] = frozenset({"dashboard", "chart", "dataset"})
REQUIRED_CLAIMS: Final[tuple[str, ...]] = (
    "iss",
    "aud",
    "sub",
    "tid",
    "iat",
    "nbf",
    "exp",
    "jti",
    "type",
    "user",
    "resources",
    "rls_rules",
)

_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})
_LARGEST_NUMERIC_DATE: Final = 2**53  # exact as a float; some 285 million years from now


@dataclass(frozen=True, slots=True)
class Resource:
    type: ResourceType
    id: str | int


@dataclass(frozen=True, slots=True)
class GuestUser:
    username: str
    first_name: str = ""
    last_name: str = ""
    attributes: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    # Roles select the tenant's Regular filters (and exempt from Base filters) for this user.
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class GuestClaims:
    """A guest token's claims. Verified claims are shared through the cache: treat them as read-only."""

    issuer: str
    audience: tuple[str, ...]
    subject: str
    tenant_id: str
    issued_at: float
    not_before: float
    expires_at: float
    token_id: str
    token_type: str
    user: GuestUser
    resources: tuple[Resource, ...]
    rls_rules: tuple[Mapping[str, Any], ...]
    origins: tuple[str, ...] | None = field(default=None)

    def to_payload(self) -> dict[str, Any]:
        """The JSON payload to sign, with the registered claim names."""
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience[0] if len(self.audience) == 1 else list(self.audience),
            "sub": self.subject,
            "tid": self.tenant_id,
            "iat": self.issued_at,
            "nbf": self.not_before,
            "exp": self.expires_at,
            "jti": self.token_id,
            "type": self.token_type,
            "user": {
                "username": self.user.username,
                "first_name": self.user.first_name,
                "last_name": self.user.last_name,
                "attributes": dict(self.user.attributes),
                "roles": list(self.user.roles),
            },
            "resources": [{"type": resource.type, "id": resource.id} for resource in self.resources],
            "rls_rules": [dict(rule) for rule in self.rls_rules],
        }
        if self.origins is not None:
            payload["origins"] = list(self.origins)
        return payload

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> GuestClaims:
        """Parse a signed payload: a missing claim raises `MissingClaim`, a mistyped one `MalformedToken`."""
        for name in REQUIRED_CLAIMS:
            if name not in payload:
                raise MissingClaim(name)
        return cls(
            issuer=_text(payload["iss"], "iss"),
            audience=_audience(payload["aud"]),
            subject=_text(payload["sub"], "sub"),
            tenant_id=_text(payload["tid"], "tid"),
            issued_at=_number(payload["iat"], "iat"),
            not_before=_number(payload["nbf"], "nbf"),
            expires_at=_number(payload["exp"], "exp"),
            token_id=_text(payload["jti"], "jti"),
            token_type=_text(payload["type"], "type"),
            user=_user(payload["user"]),
            resources=tuple(_resource(item) for item in _array(payload["resources"], "resources")),
            rls_rules=tuple(_object(rule, "rls_rules") for rule in _array(payload["rls_rules"], "rls_rules")),
            origins=_origins(payload.get("origins")),
        )


def _wrong_type(claim: str) -> MalformedToken:
    return MalformedToken(f"the token's claim {claim!r} has the wrong type")


def _text(value: object, claim: str) -> str:
    if not isinstance(value, str) or not value:
        raise _wrong_type(claim)
    return value


def is_numeric_date(value: object) -> TypeGuard[float]:
    """Whether `value` is a JSON number usable as a time: not a bool (an int subclass), not NaN or infinite,
    and small enough that arithmetic with a float cannot overflow (JSON integers are unbounded)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and -_LARGEST_NUMERIC_DATE <= value <= _LARGEST_NUMERIC_DATE
    )


def _number(value: object, claim: str) -> float:
    if not is_numeric_date(value):
        raise _wrong_type(claim)
    return value


def _array(value: object, claim: str) -> list[Any]:
    if not isinstance(value, list):
        raise _wrong_type(claim)
    return value


def _object(value: object, claim: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _wrong_type(claim)
    return MappingProxyType(value)


def _audience(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    return tuple(_text(item, "aud") for item in _array(value, "aud"))


def _origins(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(_text(origin, "origins") for origin in _array(value, "origins"))


def _optional_text(user: Mapping[str, Any], key: str) -> str:
    value = user.get(key, "")
    if not isinstance(value, str):
        raise _wrong_type("user")
    return value


def _user(value: object) -> GuestUser:
    user = _object(value, "user")
    return GuestUser(
        username=_text(user.get("username"), "user"),
        first_name=_optional_text(user, "first_name"),
        last_name=_optional_text(user, "last_name"),
        attributes=_object(user.get("attributes", {}), "user"),
        roles=_roles(user.get("roles", [])),
    )


def _roles(value: object) -> tuple[str, ...]:
    roles = _array(value, "user")
    if not all(isinstance(role, str) for role in roles):
        raise _wrong_type("user")
    return tuple(roles)


def _resource(value: object) -> Resource:
    resource = _object(value, "resources")
    kind, identifier = resource.get("type"), resource.get("id")
    if kind not in RESOURCE_TYPES or isinstance(identifier, bool) or not isinstance(identifier, str | int):
        raise _wrong_type("resources")
    return Resource(cast(ResourceType, kind), identifier)
