"""What a host app may ask a guest token for, checked against its tenant before anything is signed.

The body is Superset's (`user`, `resources`, `rls`) plus typed rules, `group_key`, roles, `ttl` and
`origins`. Every resource must exist in the caller's tenant, every rule must name one of its datasets
(or `"*"` explicitly) and be a valid clause over that dataset's columns; any failure names the
offending entry (`rls[2]`) and no token is made.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from pydantic import Field, StringConstraints

from gateway.http.bodies import StrictModel, validate
from gateway.http.errors import ApiError
from gateway.http.origins import normalise_origin, origin_allowed
from gateway.rls.clause import compile_typed_rule, parse_clause
from gateway.rls.errors import ClauseError
from gateway.rls.filter_spec import FilterSpec
from gateway.tokens.claims import GuestUser, Resource
from tenants.errors import NotFound
from tenants.store import Chart, Dashboard, Dataset, RegistryStore, Tenant

ALL_DATASETS: Final = "*"
MAX_RULES: Final = 100
MAX_RESOURCES: Final = 100

Text = Annotated[str, StringConstraints(max_length=255)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")]
DatasetRef = int | Annotated[str, StringConstraints(min_length=1, max_length=63)]


class InvalidMintRequest(ApiError):
    status = 422
    code = "invalid_field"


class UserSpec(StrictModel):
    username: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    first_name: Text = ""
    last_name: Text = ""
    attributes: dict[str, Any] = Field(default_factory=dict, max_length=50)
    roles: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]] = Field(
        default_factory=list, max_length=50
    )


class ResourceSpec(StrictModel):
    type: Literal["dashboard", "chart", "dataset"]
    id: int | Annotated[str, StringConstraints(min_length=1, max_length=64)]


class ClauseRule(StrictModel):
    dataset: DatasetRef
    clause: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
    group_key: Identifier | None = None


class TypedRule(FilterSpec):
    dataset: DatasetRef
    group_key: Identifier | None = None


class GuestTokenRequest(StrictModel):
    user: UserSpec
    resources: list[ResourceSpec] = Field(min_length=1, max_length=MAX_RESOURCES)
    # Rules are checked one by one (clause or typed) so that an error can name its index.
    rls: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_RULES)
    ttl: int | None = Field(default=None, ge=1)
    origins: list[Annotated[str, StringConstraints(max_length=255)]] | None = Field(
        default=None, max_length=20
    )


@dataclass(frozen=True, slots=True)
class PreparedToken:
    """The validated, normalised contents of a guest token, ready to sign."""

    user: GuestUser
    resources: list[Resource]
    rules: list[dict[str, Any]]
    ttl: int
    origins: tuple[str, ...] | None


async def prepare(body: GuestTokenRequest, tenant: Tenant, store: RegistryStore) -> PreparedToken:
    datasets = await store.datasets(tenant.id)
    return PreparedToken(
        user=GuestUser(
            body.user.username,
            body.user.first_name,
            body.user.last_name,
            dict(body.user.attributes),
            tuple(dict.fromkeys(body.user.roles)),
        ),
        resources=[
            await _resource(i, spec, tenant, store, datasets) for i, spec in enumerate(body.resources)
        ],
        rules=[_rule(i, raw, tenant, datasets) for i, raw in enumerate(body.rls)],
        ttl=min(body.ttl or tenant.token_ttl_seconds, tenant.max_token_ttl_seconds),
        origins=None if body.origins is None else _origins(body.origins, tenant),
    )


async def _resource(
    index: int, spec: ResourceSpec, tenant: Tenant, store: RegistryStore, datasets: Sequence[Dataset]
) -> Resource:
    field = f"resources[{index}]"
    if spec.type == "dataset":
        return Resource("dataset", _dataset(spec.id, datasets, field=field, code="unknown_resource").name)
    try:
        if spec.type == "dashboard":
            found: Dashboard | Chart = await store.dashboard(tenant.id, str(spec.id))
        else:
            found = await store.chart(tenant.id, str(spec.id))
    except NotFound:
        raise InvalidMintRequest(
            f"{spec.type} {spec.id!r} does not exist in this tenant", code="unknown_resource", field=field
        ) from None
    # The token names the resource as the registry does ("01" becomes 1), so later matches are exact.
    return Resource(spec.type, found.uuid if spec.id == found.uuid else found.id)


def _dataset(ref: int | str, datasets: Sequence[Dataset], *, field: str, code: str) -> Dataset:
    for dataset in datasets:
        if ref == dataset.name or ref == dataset.id or (isinstance(ref, str) and ref == str(dataset.id)):
            return dataset
    raise InvalidMintRequest(f"dataset {ref!r} does not exist in this tenant", code=code, field=field)


def _rule(index: int, raw: dict[str, Any], tenant: Tenant, datasets: Sequence[Dataset]) -> dict[str, Any]:
    field = f"rls[{index}]"
    try:
        spec: ClauseRule | TypedRule = (
            validate(ClauseRule, raw) if "clause" in raw else validate(TypedRule, raw)
        )
    except ApiError as exc:
        raise InvalidMintRequest(f"{field}: {exc.message}", code=exc.code, field=field) from None
    if spec.dataset == ALL_DATASETS:
        targets, dialect, name = list(datasets), tenant.dialect, ALL_DATASETS
    else:
        dataset = _dataset(spec.dataset, datasets, field=field, code="unknown_dataset")
        targets, dialect, name = [dataset], dataset.dialect, dataset.name
    try:
        clause = _checked_clause(spec, targets, fallback_dialect=dialect)
    except ClauseError as exc:
        raise InvalidMintRequest(f"{field}: {exc.message}", code=exc.code, field=field) from None
    rule: dict[str, Any] = {"dataset": name, "clause": clause}
    if spec.group_key is not None:
        rule["group_key"] = spec.group_key
    return rule


def _checked_clause(
    spec: ClauseRule | TypedRule, targets: Sequence[Dataset], *, fallback_dialect: str
) -> str:
    """The rule's SQL, valid for every dataset it targets; typed rules are compiled with bound literals."""
    if isinstance(spec, ClauseRule):
        for dataset in targets:
            parse_clause(spec.clause, dialect=dataset.dialect, columns=[c.name for c in dataset.columns])
        if not targets:
            parse_clause(spec.clause, dialect=fallback_dialect, columns=None)
        return spec.clause
    compiled = [
        compile_typed_rule(
            spec.column,
            spec.op,
            spec.value,
            dialect=dataset.dialect,
            columns=[c.name for c in dataset.columns],
        ).sql(dialect=dataset.dialect)
        for dataset in targets
    ]
    if not compiled:
        raise ClauseError("clause_unknown_column", f"the tenant has no dataset with column {spec.column!r}")
    if len(set(compiled)) > 1:
        raise ClauseError("clause_dialect", "the rule compiles differently across datasets; name one dataset")
    return compiled[0]


def _origins(requested: Sequence[str], tenant: Tenant) -> tuple[str, ...]:
    origins = []
    for i, raw in enumerate(requested):
        try:
            origin = normalise_origin(raw)
        except ValueError as exc:
            raise InvalidMintRequest(str(exc), field=f"origins[{i}]") from None
        if not origin_allowed(origin, tenant.origins):
            raise InvalidMintRequest(
                f"{origin} is not an allowed embed origin of this tenant",
                code="origin_not_allowed",
                field=f"origins[{i}]",
            )
        origins.append(origin)
    return tuple(dict.fromkeys(origins))
