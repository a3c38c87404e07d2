"""What rows a verified guest token may read: its rules and the tenant's filters, resolved per
dataset into the catalog the SQL rewriter enforces.

Two datasets over one table both restrict it: their predicates are AND-ed, never left to
whichever is listed last. Anything that cannot be resolved (a bad clause, a missing template
attribute) raises, and the request is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlglot import exp

from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.resolve import FilterType, TenantFilter, User, resolve_predicate, token_rules
from gateway.tokens.claims import GuestClaims
from tenants.store import Dataset, RowFilter


def user_of(claims: GuestClaims) -> User:
    return User(
        username=claims.user.username,
        first_name=claims.user.first_name,
        last_name=claims.user.last_name,
        attributes=dict(claims.user.attributes),
        roles=frozenset(claims.user.roles),
    )


def tenant_filters(filters: Iterable[RowFilter], *, dialect: str) -> list[TenantFilter]:
    return [
        TenantFilter(
            datasets=frozenset({f.dataset}),
            clause=parse_clause(f.clause, dialect=dialect, columns=None),
            filter_type=FilterType.BASE if f.filter_type == "base" else FilterType.REGULAR,
            roles=frozenset(f.roles),
            group_key=f.group_key,
        )
        for f in filters
    ]


def dataset_predicate(dataset: Dataset, claims: GuestClaims, filters: Sequence[RowFilter]) -> exp.Expr | None:
    """The predicate restricting `dataset` for this token's user; None when nothing restricts it."""
    return resolve_predicate(
        dataset.name,
        rules=token_rules(claims.rls_rules, dialect=dataset.dialect),
        tenant_filters=tenant_filters(filters, dialect=dataset.dialect),
        user=user_of(claims),
    )


def catalog_for(
    datasets: Sequence[Dataset],
    claims: GuestClaims,
    filters: Sequence[RowFilter],
    *,
    warehouse: str,
    dialect: str,
    default_schema: str | None = None,
) -> Catalog:
    """The tables of those `datasets` that are tables of `warehouse`, each with its resolved filter;
    no other table can be read through the catalog."""
    by_table: dict[str, list[exp.Expr | None]] = {}
    for dataset in datasets:
        if dataset.table_ref is None or dataset.warehouse != warehouse:
            continue
        by_table.setdefault(_table_key(dataset.table_ref, dialect), []).append(
            dataset_predicate(dataset, claims, filters)
        )
    return Catalog.build(
        {table: _all_of(predicates) for table, predicates in by_table.items()},
        dialect=dialect,
        default_schema=default_schema,
    )


def _all_of(predicates: Sequence[exp.Expr | None]) -> exp.Expr | None:
    present = [exp.paren(p, copy=False) for p in predicates if p is not None]
    return exp.and_(*present, copy=False) if present else None


def _table_key(table_ref: str, dialect: str) -> str:
    # Registered references are stored in normal form, so equal text means the same table.
    return exp.to_table(table_ref, dialect=dialect).sql(dialect=dialect)
