"""The `gateway` command: serve, demo, tenants (onboarding from a shell), rewrite (the RLS engine
alone), events (watch the event streams).

A command's module is imported only when that command runs, so `gateway --help` and `gateway rewrite`
start without loading the app, the registry or the connectors.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import secrets
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from gateway.config import Config
    from gateway.service.demo.onboarding import DemoTenantAccess

# name: (help, the module whose `configure_parser(parser)` and `run(args)` make the command)
DELEGATED: Final = {
    "tenants": ("create and list tenants and their apps", "tenants.cli"),
    "rewrite": ("rewrite SQL under row-level security rules (no server needed)", "gateway.rls.cli"),
    "events": ("watch the event streams (needs REDIS_URL)", "gateway.service.event_tail"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser, with the arguments of `command` only (the one being run): the others stay unloaded."""
    parser = argparse.ArgumentParser(prog="gateway", description="Embedded-analytics token gateway")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the gateway (settings come from the environment)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=1)
    demo = commands.add_parser(
        "demo", help="run the gateway with the demo data and a host site that embeds two dashboards"
    )
    demo.add_argument("--host", default="127.0.0.1", help="the gateway's address")
    demo.add_argument("--port", type=int, default=8080, help="the gateway's port")
    demo.add_argument("--host-port", type=int, default=8000, help="the host site's port (on localhost)")
    demo.add_argument("--token-ttl", type=int, default=None, help="seconds the demo's guest tokens live")
    for name, (help_text, module) in DELEGATED.items():
        delegated = commands.add_parser(name, help=help_text)
        if name == command:
            importlib.import_module(module).configure_parser(delegated)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((word for word in argv if not word.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    # Not at the top: loading the settings (pydantic-settings) would more than double what `--help` takes.
    from gateway.config import ConfigError

    try:
        if args.command == "serve":
            return serve(args.host, args.port, args.workers)
        if args.command == "demo":
            from gateway.service.demo.host_site import run_demo

            return run_demo(
                host=args.host, port=args.port, host_port=args.host_port, token_ttl=args.token_ttl
            )
        run: int = importlib.import_module(DELEGATED[args.command][1]).run(args)
        return run
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2


def serve(host: str, port: int, workers: int) -> int:
    from gateway.config import Config, ConfigError
    from gateway.service import serving
    from gateway.service.connections import ConnectionSettings
    from gateway.service.demo.onboarding import prepare_demo

    config = Config.from_env()
    shutdown = serving.ShutdownSettings.from_env()
    connections = ConnectionSettings.from_env()
    if workers > 1 and config.redis_url is None:
        raise ConfigError(
            "--workers above 1 needs REDIS_URL: revocations and registry changes reach other workers "
            "only through Redis"
        )
    if config.admin_token is None:
        # Shared by every worker through the environment, shown once to the person who started it.
        # Development only (production refuses to start without one); a console message, not a log line.
        os.environ["GATEWAY_ADMIN_TOKEN"] = token = secrets.token_urlsafe(32)
        print(f"GATEWAY_ADMIN_TOKEN was not set; this run's admin token is: {token}", file=sys.stderr)
    # Configures logging (JSON lines on stderr), once for this process.
    server_config = serving.uvicorn_config(
        host=host, port=port, workers=workers, shutdown=shutdown, connections=connections
    )
    # Migrate once here so that several workers do not race to do it (preparing the demo migrates too).
    if _nothing_configured(config):
        demo = asyncio.run(prepare_demo(config, only_into_empty_registry=True))
        if demo:
            _print_demo_guide(demo, host, port)
    else:
        asyncio.run(_migrate(config))
    logging.getLogger("gateway").info(
        "gateway (%s) on http://%s:%d  health: /healthz  ready: /readyz  metrics: /metrics  "
        "API description: /openapi.json",
        config.environment,
        host,
        port,
    )
    serving.serve(server_config, shutdown)
    return 0


def _nothing_configured(config: Config) -> bool:
    """Development with the default registry file: the demo is loaded if nothing is onboarded yet."""
    return config.environment == "development" and not os.environ.get("GATEWAY_DATABASE_URL")


def _print_demo_guide(tenants: Sequence[DemoTenantAccess], host: str, port: int) -> None:
    from gateway.service.demo.onboarding import DEMO_FILE

    base = f"http://{host}:{port}"
    slugs = ", ".join(tenant.slug for tenant in tenants)
    lines = [f"The registry was empty: loaded the demo ({DEMO_FILE}; tenants {slugs})."]
    for tenant in tenants:
        lines += [
            f"  {tenant.name}: embedded page {base}/embedded/{tenant.dashboard_uuid}",
            f"    host app, secret shown once: client_id={tenant.client_id} "
            f"client_secret={tenant.client_secret}",
        ]
    lines.append(
        f"  Access token: curl -u CLIENT_ID:CLIENT_SECRET -d grant_type=client_credentials {base}/oauth/token"
    )
    print("\n".join(lines), file=sys.stderr)


async def _migrate(config: Config) -> None:
    from tenants.db import create_engine, migrate

    engine = create_engine(config.database_url, timeout_seconds=config.database_timeout_seconds)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()
