"""SIGTERM: the gateway drains (/readyz 503), stops accepting, finishes what is in flight, then exits."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from gateway.config import ConfigError
from gateway.service.serving import ShutdownSettings
from tests.runtime.conftest import StartGateway
from tests.support.gateways import gateway_env
from tests.support.guests import MINT_PATH, Gateway, default_body
from tests.support.services import PostgresDatabases, free_port

DRAIN_SECONDS = 3


def readiness(gw: Gateway) -> httpx.Response | None:
    """A readiness check on a fresh connection, as a load balancer makes it; None when refused."""
    try:
        return httpx.get(gw.url + "/readyz", timeout=5)
    except httpx.ConnectError:
        return None


def waiting_on_a_lock(database_url: str) -> int:
    """How many sessions of the gateway's registry database wait for a lock."""
    database = urlsplit(database_url).path.lstrip("/")
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
            (database,),
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_sigterm_during_a_slow_request(
    start_gateway: StartGateway, postgres_databases: PostgresDatabases
) -> None:
    database_url = postgres_databases.create()
    gw = start_gateway(
        database_url,
        GATEWAY_SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS),
        GATEWAY_SHUTDOWN_TIMEOUT_SECONDS="20",
        GATEWAY_DATABASE_TIMEOUT="30",  # the registry's statement timeout must outlast the held lock
    )
    tenant = gw.onboard()
    access = gw.access_token(tenant.app)
    gw.mint(tenant, access=access)
    assert readiness(gw) is not None

    # A slow request made honestly: a mint, while the test holds an ACCESS EXCLUSIVE lock on the
    # registry's apps table (what a migration rewriting it would hold), so the mint's check that the
    # calling app is active waits in PostgreSQL until the test commits. (A row lock such as
    # SELECT ... FOR UPDATE would not do: plain reads never wait for row locks in PostgreSQL.)
    locker = psycopg.connect(database_url)
    answers: list[httpx.Response | BaseException] = []

    def slow_mint() -> None:
        try:
            answers.append(
                httpx.post(
                    f"{gw.url}{MINT_PATH}",
                    json=default_body(tenant),
                    headers={"Authorization": f"Bearer {access}", "X-Request-ID": "slow-request"},
                    timeout=60,
                )
            )
        except BaseException as error:  # reported by the main thread
            answers.append(error)

    reader = threading.Thread(target=slow_mint)
    try:
        locker.execute("LOCK TABLE apps IN ACCESS EXCLUSIVE MODE")
        reader.start()
        deadline = time.monotonic() + 10
        while waiting_on_a_lock(database_url) < 1:
            assert time.monotonic() < deadline, "the mint never waited for the lock"
            time.sleep(0.05)

        assert gw.process.process is not None
        gw.process.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()

        # During the drain: still accepting, but unready, so load balancers stop sending.
        time.sleep(0.3)
        draining = []
        while time.monotonic() - signalled < DRAIN_SECONDS - 0.5:
            answer = readiness(gw)
            assert answer is not None, "connections were refused during the drain"
            draining.append(answer)
            time.sleep(0.2)
        assert len(draining) >= 3
        assert all(a.status_code == 503 and a.json() == {"status": "draining"} for a in draining)
        assert all(a.headers["cache-control"] == "no-store" for a in draining)
        assert "\ngateway_ready 0.0\n" in httpx.get(gw.url + "/metrics").text

        # After it: no new connections, while the slow request is still in flight.
        deadline = signalled + DRAIN_SECONDS + 5
        while readiness(gw) is not None:
            assert time.monotonic() < deadline, "still accepting connections after the drain"
            time.sleep(0.1)
        assert reader.is_alive() and not answers
        assert gw.process.process.poll() is None
    finally:
        locker.commit()  # releases the lock: the slow read proceeds
        locker.close()
        reader.join(timeout=30)

    assert len(answers) == 1
    answer = answers[0]
    if isinstance(answer, BaseException):
        pytest.fail(f"the in-flight request failed: {answer!r}")
    assert answer.status_code == 200, answer.text
    assert set(answer.json()) == {"token"}
    assert answer.headers["x-request-id"] == "slow-request"

    # Then the lifespan shutdown runs (Redis, bus, registry closed) and the process ends.
    try:
        code = gw.process.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the gateway did not exit after its last request:\n{gw.process.output()[-4000:]}")
    assert code in (0, -signal.SIGTERM)
    log = gw.process.output()
    assert "Application shutdown complete." in log
    assert log.index("drain over") < log.index('"slow-request"') < log.index("Application shutdown complete.")


def test_every_worker_drains(start_gateway: StartGateway) -> None:
    gw = start_gateway(None, "--workers", "2", GATEWAY_SHUTDOWN_DRAIN_SECONDS=str(DRAIN_SECONDS))
    assert gw.process.process is not None
    # One worker answering is not both having started (a worker stopped while starting stops at once).
    deadline = time.monotonic() + 30
    while gw.process.output().count("Application startup complete.") < 2:
        assert time.monotonic() < deadline, "the second worker did not start"
        time.sleep(0.1)
    gw.process.process.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    # Fresh connections land on either worker: every one of them says draining.
    answers = [readiness(gw) for _ in range(8)]
    assert all(a is not None and a.status_code == 503 and a.json() == {"status": "draining"} for a in answers)
    assert gw.process.process.wait(timeout=20) is not None
    assert gw.process.output().count("SIGTERM received: draining") == 2


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("GATEWAY_SHUTDOWN_DRAIN_SECONDS", "-1"),
        ("GATEWAY_SHUTDOWN_DRAIN_SECONDS", "soon"),
        ("GATEWAY_SHUTDOWN_DRAIN_SECONDS", "inf"),
        ("GATEWAY_SHUTDOWN_TIMEOUT_SECONDS", "0"),
        ("GATEWAY_SHUTDOWN_TIMEOUT_SECONDS", "nan"),
    ],
)
def test_bad_shutdown_settings_are_refused(name: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=name):
        ShutdownSettings.from_env({name: raw})


def test_shutdown_settings_defaults_and_values() -> None:
    assert ShutdownSettings.from_env({}).model_dump() == {"drain_seconds": 5.0, "timeout_seconds": 25.0}
    assert ShutdownSettings.from_env(
        {"GATEWAY_SHUTDOWN_DRAIN_SECONDS": "0", "GATEWAY_SHUTDOWN_TIMEOUT_SECONDS": "2.5"}
    ).model_dump() == {"drain_seconds": 0.0, "timeout_seconds": 2.5}


def test_serve_refuses_a_bad_setting(tmp_path: Path) -> None:
    env = gateway_env(f"sqlite:///{tmp_path / 'r.db'}", GATEWAY_SHUTDOWN_TIMEOUT_SECONDS="-5")
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "gateway: GATEWAY_SHUTDOWN_TIMEOUT_SECONDS: Input should be greater than 0"
    )
