"""`gateway tenants ...`: the onboarding operations a shell user needs, straight on the registry.

These write through the same `Registry` as the HTTP API (same validation, same version bumps), so a
tenant made here is indistinguishable from one made over HTTP. Their config events go to Redis
Streams when REDIS_URL is set, so running gateways pick up a rotation made here.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from redis.asyncio import Redis

from gateway.bus.redis_streams import configured_bus
from gateway.config import Config
from gateway.http.bodies import validate
from gateway.http.errors import ApiError
from gateway.tokens.keys import ALGORITHMS
from tenants import schemas
from tenants.crypto import SecretBox
from tenants.db import create_engine, migrate, session_factory
from tenants.registry import Registry
from tenants.resources import NESTED, TENANTS, Resource

_APPS: Resource = next(r for r in NESTED if r.collection == "apps")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="tenants_command", required=True, metavar="COMMAND")
    create = commands.add_parser("create", help="create a tenant (and its first signing key)")
    create.add_argument("--slug", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--dialect", choices=sorted(schemas.Dialect.__args__))  # type: ignore[attr-defined]
    create.add_argument("--origin", action="append", default=[], help="an allowed embed origin (repeatable)")
    commands.add_parser("list", help="list tenants")
    apps = commands.add_parser("apps", help="a tenant's OAuth2 client apps")
    app_commands = apps.add_subparsers(dest="apps_command", required=True, metavar="COMMAND")
    app_create = app_commands.add_parser("create", help="create an app; prints its client secret once")
    app_create.add_argument("tenant", help="the tenant's slug or id")
    app_create.add_argument("--name", required=True)
    app_list = app_commands.add_parser("list", help="list a tenant's apps")
    app_list.add_argument("tenant")
    keys = commands.add_parser("keys", help="a tenant's signing keys")
    key_commands = keys.add_subparsers(dest="keys_command", required=True, metavar="COMMAND")
    rotate = key_commands.add_parser(
        "rotate", help="make a new key active; the old one retires after its tokens"
    )
    rotate.add_argument("tenant")
    rotate.add_argument("--algorithm", choices=list(ALGORITHMS), help="switch the tenant's signing algorithm")


def run(args: argparse.Namespace) -> int:
    try:
        result = asyncio.run(_run(args, Config.from_env()))
    except ApiError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


async def _run(args: argparse.Namespace, config: Config) -> Any:
    engine = create_engine(config.database_url, timeout_seconds=config.database_timeout_seconds)
    redis = (
        Redis.from_url(config.redis_url, socket_timeout=config.redis_timeout_seconds)
        if config.redis_url
        else None
    )
    try:
        await migrate(engine)
        bus = configured_bus(config, redis)
        registry = Registry(
            session_factory(engine), SecretBox(config.effective_secret_key().get_secret_value()), bus
        )
        if args.tenants_command == "create":
            fields = {"slug": args.slug, "name": args.name, "origins": args.origin}
            if args.dialect:
                fields["dialect"] = args.dialect
            tenant = validate(schemas.TenantCreate, fields)
            return (await registry.create(TENANTS, None, tenant, location_prefix="/api/v1/tenants")).body
        if args.tenants_command == "list":
            return await _all(registry, TENANTS, None)
        if args.tenants_command == "keys":
            return (await registry.rotate_key(args.tenant, algorithm=args.algorithm)).body
        if args.apps_command == "create":
            app = validate(schemas.AppCreate, {"name": args.name})
            prefix = f"/api/v1/tenants/{args.tenant}/apps"
            return (await registry.create(_APPS, args.tenant, app, location_prefix=prefix)).body
        return await _all(registry, _APPS, args.tenant)
    finally:
        if redis is not None:
            await redis.aclose()
        await engine.dispose()


async def _all(registry: Registry, resource: Resource, tenant: str | None) -> list[Any]:
    items: list[Any] = []
    cursor = None
    while True:
        page = await registry.list(resource, tenant, limit=200, cursor=cursor)
        assert page.body is not None
        items.extend(page.body["items"])
        cursor = page.body["next_cursor"]
        if cursor is None:
            return items
