"""Remembered decisions are returned only for the very claims and snapshot objects they were made with."""

from __future__ import annotations

from typing import cast

from gateway.data.decision_memo import MAX_REMEMBERED_BODY, DecisionMemo
from gateway.replica.snapshots import TenantSnapshot
from gateway.tokens.claims import GuestClaims


class Stand:
    """Stands in for claims or a snapshot: the memo looks at their identity only."""


def claims() -> GuestClaims:
    return cast(GuestClaims, Stand())


def snapshot() -> TenantSnapshot:
    return cast(TenantSnapshot, Stand())


def test_a_decision_is_found_again_for_the_same_claims_snapshot_and_body() -> None:
    memo: DecisionMemo[str] = DecisionMemo()
    token, tenant = claims(), snapshot()
    memo.remember(token, tenant, b'{"chart_id": 1}', "plan of chart 1")
    assert memo.get(token, tenant, b'{"chart_id": 1}') == "plan of chart 1"
    assert memo.get(token, tenant, b'{"chart_id": 2}') is None
    assert memo.get(token, tenant, b'{"chart_id":1}') is None  # bytes, not meaning: decided again


def test_a_token_verified_again_or_a_changed_registry_decides_again() -> None:
    memo: DecisionMemo[str] = DecisionMemo()
    token, tenant = claims(), snapshot()
    memo.remember(token, tenant, b"{}", "decided")
    assert memo.get(claims(), tenant, b"{}") is None  # other claims object: re-verified or another token
    assert memo.get(token, snapshot(), b"{}") is None  # the tenant's snapshot was replaced


def test_the_memo_is_bounded_and_drops_its_oldest_decisions() -> None:
    memo: DecisionMemo[int] = DecisionMemo(maxsize=3)
    token, tenant = claims(), snapshot()
    for n in range(4):
        memo.remember(token, tenant, str(n).encode(), n)
    assert memo.get(token, tenant, b"0") is None
    assert [memo.get(token, tenant, str(n).encode()) for n in (1, 2, 3)] == [1, 2, 3]


def test_large_bodies_are_decided_every_time() -> None:
    memo: DecisionMemo[str] = DecisionMemo()
    token, tenant = claims(), snapshot()
    large = b"{" + b" " * MAX_REMEMBERED_BODY + b"}"
    assert memo.remember(token, tenant, large, "decided") == "decided"
    assert memo.get(token, tenant, large) is None
