"""The log of a real run: JSON lines, request ids end to end, and no credential anywhere in it."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.runtime.conftest import StartGateway
from tests.support.guests import Gateway, default_body
from tests.support.services import ADMIN_TOKEN, SECRET_KEY


def log_lines(gw: Gateway) -> list[dict[str, Any]]:
    """Every line of the server's output, each of which must be one JSON object."""
    lines = []
    for line in gw.process.output().splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
        assert isinstance(entry, dict), line
        assert {"timestamp", "level", "logger", "message"} <= set(entry), line
        lines.append(entry)
    return lines


def access_line(gw: Gateway, request_id: str) -> dict[str, Any]:
    """The access line of the request `request_id` (written just after its answer: wait for it)."""
    deadline = time.monotonic() + 10
    while True:
        found = [
            e for e in log_lines(gw) if e["logger"] == "gateway.access" and e.get("request_id") == request_id
        ]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.05)


def test_request_ids_are_echoed_and_logged(start_gateway: StartGateway) -> None:
    gw = start_gateway()
    tenant = gw.onboard()
    token = gw.mint(tenant)
    dashboard = tenant.dashboard["id"]

    response = gw.http.get(
        f"/api/v1/dashboard/{dashboard}",
        headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-7f.A_b-1"},
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"] == "trace-7f.A_b-1"
    line = access_line(gw, "trace-7f.A_b-1")
    assert line["route"] == "/api/v1/dashboard/{ref}" and line["method"] == "GET"
    assert line["status"] == 200 and line["duration_ms"] > 0
    assert line["tenant"] == tenant.id and line["level"] == "info"

    refused = gw.http.get(f"/api/v1/dashboard/{dashboard}", headers={"X-Request-ID": "no-token-1"})
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "no-token-1"
    line = access_line(gw, "no-token-1")
    assert line["status"] == 401 and "tenant" not in line

    # An id that is not a sane token is replaced, never echoed or logged.
    for insane in ("has spaces", "x" * 129, 'quote"d', "semi;colon"):
        response = gw.http.get("/healthz", headers={"X-Request-ID": insane})
        generated = response.headers["x-request-id"]
        assert generated != insane and len(generated) == 32 and int(generated, 16) >= 0
        assert access_line(gw, generated)["route"] == "/healthz"
        assert insane not in gw.process.output()
    # Without one, every answer still gets its own.
    ids = {gw.http.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


def test_no_credential_reaches_the_log(start_gateway: StartGateway) -> None:
    gw = start_gateway()
    tenant = gw.onboard()
    other_app = gw.new_app(tenant.slug, name="second")
    access = gw.access_token(tenant.app)
    # Both ways of authenticating to /oauth/token: Basic and client_secret_post.
    assert gw.token_request(other_app, method="post").status_code == 200
    assert gw.token_request(other_app, method="basic").status_code == 200
    bad_secret = "wrong-" + other_app.client_secret[::-1]
    refused = gw.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(other_app.client_id, bad_secret)
    )
    assert refused.status_code == 401
    token = gw.mint(tenant, default_body(tenant, username="carol-the-user"), access=access)
    dashboard = tenant.dashboard["id"]
    assert gw.dashboard(token, dashboard).status_code == 200
    assert gw.dashboard(token, dashboard, header="x-guesttoken").status_code == 200
    tampered = token[:-6] + "AAAAAA"
    assert gw.dashboard(tampered, dashboard).status_code == 401
    in_query = gw.http.get(f"/api/v1/dashboard/{dashboard}?guest_token={token}&q=leaky-query-value")
    assert in_query.status_code == 401  # a token is never taken from the query string
    assert gw.revoke(tenant, {"jti": "some-jti-value"}, access=access).status_code == 200
    wrong_admin = gw.http.get("/api/v1/tenants", headers={"Authorization": "Bearer wrong-admin-token-xyz"})
    assert wrong_admin.status_code == 401
    gw.process.stop()  # the whole run, shutdown included

    log = gw.process.output()
    assert log_lines(gw), "the server logged nothing"
    secrets = {
        "guest token": token,
        "guest token signature": token.rsplit(".", 1)[1],
        "tampered token": tampered,
        "access token": access,
        "client secret": tenant.app.client_secret,
        "other client secret": other_app.client_secret,
        "wrong client secret": bad_secret,
        "admin token": ADMIN_TOKEN,
        "wrong admin token": "wrong-admin-token-xyz",
        "secret key": SECRET_KEY,
        "warehouse password": f"pw-{tenant.slug}",
        "query string value": "leaky-query-value",
    }
    for name, secret in secrets.items():
        assert secret not in log, f"the log contains the {name}"
    assert "Bearer" not in log and "Basic " not in log and "authorization" not in log.lower()
