"""Resolve a token's filters into one predicate per dataset, with Superset's semantics.

- Regular filters apply to the user they are given to: the token's ``rls_rules``, and tenant filters of
  type Regular attached to a role the token carries. Regular filters sharing a ``group_key`` are OR-ed.
- Base filters apply to everyone except the roles they exempt, and except when a Regular filter with the
  same ``group_key`` applies to the user. Base filters sharing a ``group_key`` are OR-ed too.
- Filters without a ``group_key`` and the groups are AND-ed; every clause is parenthesised first.

No I/O: plain dataclasses in, sqlglot expressions out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

from sqlglot import exp

from gateway.rls.clause import literal, parse_clause
from gateway.rls.errors import ClauseError, ResolutionError

ALL_DATASETS = "*"
"""The ``dataset`` of a rule that applies to every dataset; it must be written out, never implied."""


class FilterType(Enum):
    REGULAR = "Regular"
    BASE = "Base"


@dataclass(frozen=True)
class TokenRule:
    """A rule from a guest token's ``rls_rules``: always Regular. ``clause`` comes from ``parse_clause``."""

    dataset: str
    clause: exp.Expr
    group_key: str | None = None


@dataclass(frozen=True)
class TenantFilter:
    """A tenant's filter. Regular: applies to ``roles``. Base: applies to everyone but ``roles``."""

    datasets: frozenset[str]
    clause: exp.Expr
    filter_type: FilterType
    roles: frozenset[str] = frozenset()
    group_key: str | None = None


@dataclass(frozen=True)
class User:
    """The token's user, as templates see it."""

    username: str = ""
    first_name: str = ""
    last_name: str = ""
    attributes: Mapping[str, object] = field(default_factory=dict)
    roles: frozenset[str] = frozenset()


def token_rules(claims: Sequence[Mapping[str, object]], *, dialect: str) -> list[TokenRule]:
    """The rules of a guest token's ``rls_rules`` claim (``{dataset, clause, group_key?}`` objects).

    Clauses were validated against their datasets at mint time; they are parsed again here, so a token can
    never carry anything ``parse_clause`` refuses.

    >>> rules = token_rules([{"dataset": "*", "clause": "tenant_id = 1"}], dialect="postgres")
    >>> [(rule.dataset, rule.clause.sql()) for rule in rules]
    [('*', 'tenant_id = 1')]

    Raises:
        ResolutionError: a malformed rule or an invalid clause.
    """
    rules = []
    for index, claim in enumerate(claims):
        dataset, clause, group_key = claim.get("dataset"), claim.get("clause"), claim.get("group_key")
        if (
            not isinstance(dataset, str)
            or not isinstance(clause, str)
            or not isinstance(group_key, str | None)
        ):
            raise ResolutionError("rule_malformed", f"rls_rules[{index}] needs a string dataset and clause")
        try:
            parsed = parse_clause(clause, dialect=dialect, columns=None)
        except ClauseError as error:
            raise ResolutionError(error.code, f"rls_rules[{index}]: {error.message}") from None
        rules.append(TokenRule(dataset=dataset, clause=parsed, group_key=group_key))
    return rules


def resolve_predicate(
    dataset: str,
    *,
    rules: Sequence[TokenRule],
    tenant_filters: Sequence[TenantFilter],
    user: User,
) -> exp.Expr | None:
    """The predicate that restricts ``dataset`` for this user, or ``None`` when nothing restricts it.

    >>> from gateway.rls.clause import parse_clause
    >>> def clause(sql): return parse_clause(sql, dialect="postgres", columns=None)
    >>> rules = [TokenRule("orders", clause("region = 'EU'"), "region"),
    ...          TokenRule("*", clause("region = 'US'"), "region"),
    ...          TokenRule("orders", clause("tenant_id = {{ user.attributes.tenant }}"))]
    >>> orders = frozenset({"orders"})
    >>> base = [TenantFilter(orders, clause("region = 'none'"), FilterType.BASE, group_key="region"),
    ...         TenantFilter(orders, clause("archived = FALSE"), FilterType.BASE, roles=frozenset({"admin"}))]
    >>> user = User(attributes={"tenant": 7})
    >>> resolve_predicate("orders", rules=rules, tenant_filters=base, user=user).sql()
    "(tenant_id = 7) AND (archived = FALSE) AND ((region = 'EU') OR (region = 'US'))"

    Raises:
        ResolutionError: a template names a missing attribute or a value that cannot be a literal.
    """
    regular = [rule for rule in rules if rule.dataset in (dataset, ALL_DATASETS)]
    regular_filters = [
        f
        for f in tenant_filters
        if f.filter_type is FilterType.REGULAR and _covers(f, dataset) and f.roles & user.roles
    ]
    applying_regular: list[TokenRule | TenantFilter] = [*regular, *regular_filters]
    regular_keys = {f.group_key for f in applying_regular if f.group_key}
    base = [
        f
        for f in tenant_filters
        if f.filter_type is FilterType.BASE
        and _covers(f, dataset)
        and not f.roles & user.roles
        and not (f.group_key and f.group_key in regular_keys)
    ]
    ungrouped: list[exp.Expr] = []
    groups: dict[str, list[exp.Expr]] = {}
    for item in [*applying_regular, *base]:
        clause = exp.paren(bind_templates(item.clause, user), copy=False)
        if item.group_key:
            groups.setdefault(item.group_key, []).append(clause)
        else:
            ungrouped.append(clause)
    parts = ungrouped + [
        _paren_if_many(exp.or_(*members, copy=False), members) for members in groups.values()
    ]
    return exp.and_(*parts, copy=False) if parts else None


def combine_clauses(clauses: Iterable[exp.Expr]) -> exp.Expr | None:
    """AND clauses together, each parenthesised; ``None`` for no clause (no filter)."""
    parts = [exp.paren(clause.copy(), copy=False) for clause in clauses]
    return exp.and_(*parts, copy=False) if parts else None


def bind_templates(clause: exp.Expr, user: User) -> exp.Expr:
    """A copy of ``clause`` with each template placeholder replaced by the user's value as a SQL literal.

    >>> from gateway.rls.clause import parse_clause
    >>> c = parse_clause("owner = {{ user.username }} AND region IN ({{ user.attributes.regions }})",
    ...                  dialect="postgres", columns=None)
    >>> bind_templates(c, User(username="o'neil", attributes={"regions": ["EU", "US"]})).sql()
    "owner = 'o''neil' AND region IN ('EU', 'US')"

    Raises:
        ResolutionError: a missing attribute, or a value with no literal form where it stands.
    """
    bound = clause.copy()
    for placeholder in list(bound.find_all(exp.Placeholder)):
        value = _template_value(placeholder.name, user)
        parent = placeholder.parent
        if isinstance(value, list | tuple):
            if not (isinstance(parent, exp.In) and placeholder.arg_key == "expressions"):
                raise ResolutionError(
                    "template_value", f"{placeholder.name} is a list; lists are only allowed inside IN (...)"
                )
            _expand_in_list(parent, placeholder, value)
        else:
            placeholder.replace(_literal(value, placeholder.name))
    return bound


def rules_fingerprint(rules: Sequence[Mapping[str, object]], user: User) -> str:
    """A stable hash of a token's raw rules and its user's attributes and roles (a cache-key part)."""
    payload = {
        "rules": list(rules),
        "user": {
            "username": user.username,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "attributes": dict(user.attributes),
            "roles": sorted(user.roles),
        },
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _covers(tenant_filter: TenantFilter, dataset: str) -> bool:
    return dataset in tenant_filter.datasets or ALL_DATASETS in tenant_filter.datasets


def _paren_if_many(combined: exp.Expr, members: list[exp.Expr]) -> exp.Expr:
    return exp.paren(combined, copy=False) if len(members) > 1 else combined


def _template_value(path: str, user: User) -> object:
    _, _, rest = path.partition(".")
    if rest.startswith("attributes."):
        name = rest.removeprefix("attributes.")
        if name not in user.attributes:
            raise ResolutionError("missing_attribute", f"User attribute {name!r} is not set")
        return user.attributes[name]
    value: str = getattr(user, rest)
    if not value:
        raise ResolutionError("missing_attribute", f"User {rest!r} is not set")
    return value


def _literal(value: object, path: str) -> exp.Expr:
    try:
        return literal(value)
    except ClauseError as error:
        raise ResolutionError("template_value", f"{path}: {error.message}") from None


def _expand_in_list(condition: exp.In, placeholder: exp.Placeholder, values: Sequence[object]) -> None:
    if not values:
        raise ResolutionError("template_value", f"{placeholder.name} is an empty list")
    members: list[exp.Expr] = []
    for member in condition.expressions:
        if member is placeholder:
            members.extend(_literal(value, placeholder.name) for value in values)
        else:
            members.append(member)
    condition.set("expressions", members)
