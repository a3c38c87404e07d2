"""The per-app mint rate limit (`GATEWAY_MINT_RATE_LIMIT`), shared through Redis by every process."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.support.guests import MINT_PATH, Gateway, Servers, assert_api_error, default_body

LIMIT = 3


@pytest.fixture(scope="module")
def limited(servers: Servers) -> tuple[Gateway, Gateway]:
    first = servers.start(GATEWAY_MINT_RATE_LIMIT=str(LIMIT))
    second = servers.start(
        database_url=first.database_url, prefix=first.redis_prefix, GATEWAY_MINT_RATE_LIMIT=str(LIMIT)
    )
    return first, second


def away_from_a_minute_boundary() -> None:
    """A fixed one-minute window must not roll over between the mints of one test."""
    if time.time() % 60 > 50:
        time.sleep(60 - time.time() % 60 + 0.2)


def test_the_fourth_mint_in_a_minute_is_rate_limited(limited: tuple[Gateway, Gateway]) -> None:
    gw, _ = limited
    tenant = gw.onboard()
    other_app = gw.new_app(tenant.slug, name="second-backend")
    access = gw.access_token(tenant.app)
    away_from_a_minute_boundary()
    for _ in range(LIMIT):
        response = gw.mint_response(access, default_body(tenant))
        assert response.status_code == 200, response.text
    response = gw.mint_response(access, default_body(tenant))
    assert_api_error(response, 429, "rate_limited")
    retry_after = response.headers.get("retry-after")
    assert retry_after is not None and retry_after.isdigit(), retry_after
    assert 1 <= int(retry_after) <= 60
    # Per app: another app of the same tenant still mints.
    assert gw.mint_response(gw.access_token(other_app), default_body(tenant)).status_code == 200
    # A new access token of the limited app does not reset its budget.
    assert_api_error(gw.mint_response(gw.access_token(tenant.app), default_body(tenant)), 429, "rate_limited")


def test_the_limit_is_shared_by_every_process(limited: tuple[Gateway, Gateway]) -> None:
    first, second = limited
    tenant = first.onboard()
    access = first.access_token(tenant.app)
    away_from_a_minute_boundary()
    for gw in (first, second, first):
        response = gw.mint_response(access, default_body(tenant))
        assert response.status_code == 200, response.text
    assert_api_error(second.mint_response(access, default_body(tenant)), 429, "rate_limited")
    assert_api_error(first.mint_response(access, default_body(tenant)), 429, "rate_limited")


def test_concurrent_mints_cannot_exceed_the_limit(limited: tuple[Gateway, Gateway]) -> None:
    first = limited[0]
    tenant = first.onboard()
    access = first.access_token(tenant.app)
    away_from_a_minute_boundary()
    statuses: list[int] = []

    def mint(gw: Gateway) -> None:
        with httpx.Client(base_url=gw.url, timeout=30) as own:
            response = own.post(
                MINT_PATH, json=default_body(tenant), headers={"Authorization": f"Bearer {access}"}
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=mint, args=(limited[i % 2],)) for i in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * LIMIT + [429] * (12 - LIMIT), statuses
