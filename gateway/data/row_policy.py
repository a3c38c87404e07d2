"""What rows a verified guest token may read: its rules and the tenant's filters, resolved per
dataset into the catalog the SQL rewriter enforces.

Two datasets over one table both restrict it: their predicates are AND-ed, never left to
whichever is listed last. Anything that cannot be resolved (a bad clause, a missing template
attribute) raises, and the request is refused.

Resolved predicates are cached (design section 4) by (tenant, registry version, fingerprint of the
token's rules and user, dataset): in process, and in Redis when configured so that every replica
shares them, for no longer than the token lives. The registry version in the key makes a filter
change a miss everywhere at once; a Redis failure refuses the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from redis.asyncio import Redis
from sqlglot import exp

from gateway.lru import LruCache
from gateway.replica.snapshots import TenantSnapshot
from gateway.rls.cache import PredicateCache, PredicateKey
from gateway.rls.catalog import Catalog
from gateway.rls.clause import parse_clause
from gateway.rls.resolve import (
    FilterType,
    TenantFilter,
    User,
    resolve_predicate,
    rules_fingerprint,
    token_rules,
)
from gateway.tokens.claims import GuestClaims
from tenants.store import Dataset, RowFilter

_FINGERPRINTS: Final = 4096


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


class RowPolicies:
    """The catalog a token gets, built from cached resolved predicates."""

    def __init__(self, redis: Redis | None, *, prefix: str) -> None:
        self._redis = redis
        self._prefix = f"{prefix}rls:predicate"
        self._caches: dict[str, PredicateCache] = {}  # per dialect: entries are stored as its SQL
        # By tenant and token id, with the claims it was computed from; first in, first out (a lookup
        # does not refresh an entry).
        self._fingerprints: LruCache[tuple[str, str], tuple[GuestClaims, str]] = LruCache(_FINGERPRINTS)

    def fingerprint(self, claims: GuestClaims) -> str:
        """The hash of the token's rules and user: what its resolved predicates depend on besides the
        registry. Computed once per verified token: the verifier hands out the same claims object for
        a token it has seen, and any other claims (even under a reused token id) are hashed afresh."""
        key = (claims.tenant_id, claims.token_id)
        known = self._fingerprints.get(key, refresh=False)
        if known is not None and known[0] is claims:
            return known[1]
        fingerprint = rules_fingerprint(claims.rls_rules, user_of(claims))
        self._fingerprints.put(key, (claims, fingerprint))
        return fingerprint

    async def predicate(
        self, snapshot: TenantSnapshot, claims: GuestClaims, dataset: Dataset
    ) -> exp.Expr | None:
        """The predicate restricting `dataset` for this token's user (a copy the caller may own)."""
        cache = self._caches.get(dataset.dialect)
        if cache is None:
            cache = self._caches[dataset.dialect] = PredicateCache(
                self._redis, dialect=dataset.dialect, prefix=self._prefix
            )
        tenant = snapshot.tenant
        key = PredicateKey(tenant.id, tenant.registry_version, self.fingerprint(claims), dataset.name)
        predicate = await cache.get_or_resolve(
            key,
            expires_at=claims.expires_at,
            resolve=lambda: dataset_predicate(dataset, claims, snapshot.row_filters),
        )
        return predicate.copy() if predicate is not None else None

    async def catalog(
        self,
        snapshot: TenantSnapshot,
        claims: GuestClaims,
        datasets: Sequence[Dataset],
        *,
        warehouse: str,
        dialect: str,
    ) -> Catalog:
        """The tables of those `datasets` that are tables of `warehouse`, each with its resolved filter;
        no other table can be read through the catalog."""
        predicates = [
            (dataset, await self.predicate(snapshot, claims, dataset))
            for dataset in datasets
            if dataset.table_ref is not None and dataset.warehouse == warehouse
        ]
        return build_catalog(
            predicates,
            dialect=dialect,
            default_schema=snapshot.default_schema(warehouse, dialect),
        )


def build_catalog(
    predicates: Sequence[tuple[Dataset, exp.Expr | None]], *, dialect: str, default_schema: str | None
) -> Catalog:
    by_table: dict[str, list[exp.Expr | None]] = {}
    for dataset, predicate in predicates:
        assert dataset.table_ref is not None
        by_table.setdefault(_table_key(dataset.table_ref, dialect), []).append(predicate)
    return Catalog.build(
        {table: _all_of(predicates) for table, predicates in by_table.items()},
        dialect=dialect,
        default_schema=default_schema,
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
    """`RowPolicies.catalog` without caches."""
    return build_catalog(
        [
            (dataset, dataset_predicate(dataset, claims, filters))
            for dataset in datasets
            if dataset.table_ref is not None and dataset.warehouse == warehouse
        ],
        dialect=dialect,
        default_schema=default_schema,
    )


def _all_of(predicates: Sequence[exp.Expr | None]) -> exp.Expr | None:
    present = [exp.paren(p, copy=False) for p in predicates if p is not None]
    return exp.and_(*present, copy=False) if present else None


def _table_key(table_ref: str, dialect: str) -> str:
    # Registered references are stored in normal form, so equal text means the same table.
    return exp.to_table(table_ref, dialect=dialect).sql(dialect=dialect)
