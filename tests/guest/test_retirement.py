"""Retirement: a rotated-out key verifies until every token it signed has expired, then leaves the JWKS
and its tokens are refused. The rotation is started at session start (fixture `retirement` in
tests/conftest.py)."""

from __future__ import annotations

import time
from typing import Any

from tests.support.guests import RETIRING_MAX_TTL, Gateway

# The contract does not say how long after the last possible expiry a key retires; the gateway may add a
# grace for clock leeway. A key still published this long after its last token expired is a finding.
GRACE_ALLOWED = 75


def statuses(gw: Gateway, tenant: Any) -> dict[str, str]:
    return {key["kid"]: key["status"] for key in gw.keys(tenant)}


def jwks_kids(gw: Gateway) -> set[str]:
    return {key["kid"] for key in gw.jwks()["keys"]}


def test_retired_keys_leave_jwks_and_their_tokens_are_refused(retirement: dict[str, Any]) -> None:
    if "setup_error" in retirement:
        raise retirement["setup_error"]
    gw: Gateway = retirement["gateway"]
    tenant, old_kid, token = retirement["tenant"], retirement["old_kid"], retirement["token"]
    assert retirement["first_read"] == 200
    assert retirement["rotation"].status_code == 201, retirement["rotation"].text
    new_kid = retirement["rotation"].json()["kid"]

    limit = retirement["rotated_at"] + RETIRING_MAX_TTL + GRACE_ALLOWED
    while time.time() < limit and old_kid in jwks_kids(gw):
        # While it is published it is `retiring` and the gateway still knows it.
        assert statuses(gw, tenant)[old_kid] == "retiring"
        time.sleep(0.5)
    assert old_kid not in jwks_kids(gw), "the old key never left the JWKS"
    assert time.time() >= retirement["rotated_at"] + RETIRING_MAX_TTL - 1, "retired before its tokens expired"
    assert statuses(gw, tenant) == {old_kid: "retired", new_kid: "active"}
    assert new_kid in jwks_kids(gw)
    response = gw.dashboard(token, tenant.dashboard["id"])
    assert response.status_code == 401, response.text
    # The token has expired by now as well; either refusal is right, acceptance never.
    assert response.json()["error"]["code"] in ("key_retired", "token_expired"), response.text
    # The new key keeps working.
    fresh = gw.mint(tenant)
    assert gw.dashboard(fresh, tenant.dashboard["id"]).status_code == 200
