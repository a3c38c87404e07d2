"""What the whole-process benchmarks share: free ports, a server process, a guest token, a wrk run."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from gateway.service.demo.onboarding import DemoTenantAccess

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def gateway_env(work: Path) -> dict[str, str]:
    """A gateway's environment with its embedded defaults in `work`: this process's variables without
    any gateway setting or Redis, a fresh registry and secrets, and no request rate a tenant's load
    could reach (one token is a bench's whole load: its fair share is not what is measured)."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "REDIS_URL"},
        "GATEWAY_DATABASE_URL": f"sqlite:///{work / 'registry.db'}",
        "GATEWAY_ADMIN_TOKEN": secrets.token_urlsafe(32),
        "GATEWAY_SECRET_KEY": secrets.token_urlsafe(32),
        "GATEWAY_TENANT_DATA_RATE": "1e9",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(command: list[str], env: dict[str, str], cwd: Path, port: int) -> Iterator[str]:
    url = f"http://127.0.0.1:{port}"
    with (cwd / f"server-{port}.log").open("wb") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise RuntimeError(f"{command[0]} did not start: see {cwd}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def guest_token(url: str, tenant: DemoTenantAccess, *, datasets: tuple[str, ...] = ()) -> str:
    """A guest token for the tenant's demo dashboard, and for `datasets` (ad-hoc SQL) if any."""
    with httpx.Client(base_url=url, timeout=30) as http:
        access = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "guest_token:create"},
            auth=(tenant.client_id, tenant.client_secret),
        ).json()["access_token"]
        body = {
            "user": {"username": "bench"},
            "resources": [
                {"type": "dashboard", "id": tenant.dashboard_uuid},
                *({"type": "dataset", "id": name} for name in datasets),
            ],
            "rls": [],
            "ttl": 3600,
        }
        minted = http.post(
            "/api/v1/security/guest_token/", json=body, headers={"Authorization": f"Bearer {access}"}
        )
        minted.raise_for_status()
        return str(minted.json()["token"])


def wrk(url: str, body: dict[str, Any], token: str, *, seconds: int, connections: int) -> dict[str, float]:
    """Requests/s and latency percentiles (ms) of POSTing `body` to `url` for `seconds`."""
    script = textwrap.dedent(
        f"""
        wrk.method = "POST"
        wrk.body = {json.dumps(json.dumps(body))}
        wrk.headers["Content-Type"] = "application/json"
        wrk.headers["Authorization"] = "Bearer {token}"
        """
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", file.name, url]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(file.name)
    if "Non-2xx" in output:
        raise RuntimeError(f"errors while loading {url}:\n{output}")
    figures = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}  # type: ignore[union-attr]
    for percentile in ("50", "99"):
        value, unit = re.search(rf"\s{percentile}%\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
        figures[f"p{percentile}"] = float(value) * UNITS[unit]
    return figures
