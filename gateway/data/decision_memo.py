"""Remembered decisions: what a verified token's request body resolved to, for its next identical request.

An embedded dashboard repeats the same few requests: the same token, the same chart, the same
filters. Parsing and validating the body, checking the grant and looking the plan up again gives the
same answer every time, as long as nothing it was decided from has changed. A decision is therefore
remembered under the raw body and returned only while the request's verified claims and the tenant's
snapshot are *the very objects* it was decided with:

- the verified-token cache hands out one claims object per token until the token expires or is
  evicted, and drops every token of a tenant whose keys rotate or whose token is revoked; a token
  verified again is a new object;
- a registry change replaces the tenant's snapshot object (`TenantSnapshots.invalidate`).

So a revoked, expired or re-verified token, or any registry change, can never reuse a decision: it
misses and is decided again in full. The token itself is still verified on every request (revocation,
tenant status, expiry) and its origin checked before this memo is asked. Refusals are not remembered,
nor are bodies over 4 KiB (the memo holds at most 4096 decisions, so at most 16 MiB of bodies).
"""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from gateway.replica.snapshots import TenantSnapshot
from gateway.tokens.claims import GuestClaims

DecisionT = TypeVar("DecisionT")
_DECISIONS: Final = 4096
# Dashboards send small bodies; a large one is decided every time rather than held in memory.
MAX_REMEMBERED_BODY: Final = 4096


@dataclass(frozen=True, slots=True)
class _Entry(Generic[DecisionT]):
    # Held strongly: its id is part of the key and must not be reused while the entry lives.
    claims: GuestClaims
    # Held weakly: a replaced snapshot (its charts, its warehouses' URLs) is not kept alive here.
    snapshot: weakref.ref[TenantSnapshot]
    decision: DecisionT


class DecisionMemo(Generic[DecisionT]):
    def __init__(self, *, maxsize: int = _DECISIONS) -> None:
        self._maxsize = maxsize
        self._entries: dict[Hashable, _Entry[DecisionT]] = {}

    def get(self, claims: GuestClaims, snapshot: TenantSnapshot, body: bytes) -> DecisionT | None:
        entry = self._entries.get((id(claims), body))
        if entry is None or entry.claims is not claims or entry.snapshot() is not snapshot:
            return None
        return entry.decision

    def remember(
        self, claims: GuestClaims, snapshot: TenantSnapshot, body: bytes, decision: DecisionT
    ) -> DecisionT:
        if len(body) > MAX_REMEMBERED_BODY:
            return decision
        key = (id(claims), body)
        if key not in self._entries and len(self._entries) >= self._maxsize:
            # Oldest first: a decision still in use is simply made again.
            del self._entries[next(iter(self._entries))]
        self._entries[key] = _Entry(claims, weakref.ref(snapshot), decision)
        return decision
