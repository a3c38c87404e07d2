"""`gateway tenants ...` from a shell writes the same registry the HTTP API serves."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.gateways import GatewayProcess, gateway_env


def gateway_cli(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        cwd=cwd,
        env=gateway_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_tenant_and_app_made_in_a_shell_are_served_over_http(database_url: str, tmp_path: Path) -> None:
    tenant = ok(
        gateway_cli(
            "tenants", "create", "--slug", "shell", "--name", "Shell Co", "--dialect", "duckdb",
            "--origin", "https://shell.example", database_url=database_url, cwd=tmp_path,
        )
    )  # fmt: skip
    assert tenant["slug"] == "shell" and tenant["dialect"] == "duckdb"
    app = ok(
        gateway_cli(
            "tenants", "apps", "create", "shell", "--name", "backend", database_url=database_url, cwd=tmp_path
        )
    )
    assert app["client_secret"]
    listed = ok(gateway_cli("tenants", "list", database_url=database_url, cwd=tmp_path))
    assert [t["slug"] for t in listed] == ["shell"]
    apps = ok(gateway_cli("tenants", "apps", "list", "shell", database_url=database_url, cwd=tmp_path))
    assert [a["client_id"] for a in apps] == [app["client_id"]] and "client_secret" not in apps[0]

    server = GatewayProcess(gateway_env(database_url), tmp_path).start()
    try:
        with server.client() as client:
            assert client.get("/api/v1/tenants/shell").json() == tenant
            assert (
                client.get("/api/v1/tenants/shell/origins").json()["items"][0]["origin"]
                == "https://shell.example"
            )
            assert len(client.get("/api/v1/tenants/shell/keys").json()["items"]) == 1
    finally:
        server.stop()


def test_cli_refusals_are_clear_and_change_nothing(database_url: str, tmp_path: Path) -> None:
    bad = gateway_cli(
        "tenants", "create", "--slug", "Bad Slug", "--name", "x", database_url=database_url, cwd=tmp_path
    )
    assert bad.returncode == 2 and "slug" in bad.stderr
    missing = gateway_cli(
        "tenants", "apps", "create", "ghost", "--name", "x", database_url=database_url, cwd=tmp_path
    )
    assert missing.returncode == 2 and "tenant 'ghost' does not exist" in missing.stderr
    assert ok(gateway_cli("tenants", "list", database_url=database_url, cwd=tmp_path)) == []


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        [
            "rewrite",
            "--dialect",
            "postgres",
            "--table",
            "public.orders=tenant_id = 1",
            "SELECT * FROM orders",
        ],
    ],
    ids=["help", "rewrite"],
)
def test_help_and_rewrite_start_without_loading_the_app(argv: list[str]) -> None:
    """`gateway --help` and `gateway rewrite` load neither the app, the registry nor a connector."""
    probe = (
        "import sys\n"
        "from gateway.service.cli import main\n"
        "try:\n"
        f"    code = main({argv!r})\n"
        "except SystemExit as exit:\n"
        "    code = exit.code\n"
        "print('loaded:', ' '.join(sorted(sys.modules)), file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stderr.rsplit("loaded: ", 1)[1].split())
    heavy = {"gateway.service.app", "tenants.store", "sqlalchemy", "starlette", "duckdb", "redis", "aiohttp"}
    assert loaded & heavy == set()
    if argv[0] == "rewrite":
        assert done.stdout.strip() == (
            "SELECT * FROM (SELECT * FROM public.orders WHERE (orders.tenant_id = 1)) AS orders"
        )
    else:
        assert "tenants" in done.stdout and "rewrite" in done.stdout
