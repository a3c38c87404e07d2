"""`gateway events tail`: print the events of the shared Redis streams as they arrive, one JSON line each.

It reads like a replica does (broadcast, no consumer group), so watching takes nothing away from
anyone. The in-process bus of a gateway without REDIS_URL lives inside that process and cannot be
watched from another one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
from typing import Final, TextIO

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from gateway.bus.events import STREAMS, Stream
from gateway.bus.redis_streams import RedisStreamsBus
from gateway.config import Config
from tenants.crypto import SecretBox
from tenants.db import create_engine, session_factory
from tenants.errors import NotFound
from tenants.store import RegistryStore

_RETRY_SECONDS: Final = 1.0


class TailError(Exception):
    """The tail cannot start; the message says why (exit status 2)."""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="events_command", required=True, metavar="COMMAND")
    tail = commands.add_parser(
        "tail", help="print events as they arrive, one JSON line each, until Ctrl-C (needs REDIS_URL)"
    )
    tail.add_argument(
        "--stream",
        action="append",
        choices=STREAMS,
        help="a stream to follow (repeatable; default: all of them)",
    )
    tail.add_argument(
        "--tenant", help="only this tenant's events (its slug or id, looked up in the registry)"
    )
    tail.add_argument(
        "--from-start", action="store_true", help="first print the events the streams still keep"
    )


def run(args: argparse.Namespace) -> int:
    config = Config.from_env()
    streams: tuple[Stream, ...] = tuple(dict.fromkeys(args.stream or STREAMS))
    try:
        asyncio.run(tail(config, streams, tenant=args.tenant, from_start=args.from_start, out=sys.stdout))
    except TailError as exc:
        print(f"gateway events tail: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


async def tail(
    config: Config, streams: tuple[Stream, ...], *, tenant: str | None, from_start: bool, out: TextIO
) -> None:
    if config.redis_url is None:
        raise TailError(
            "REDIS_URL is not set: without Redis, events travel on an in-process bus that only the "
            "gateway process itself can see"
        )
    tenant_id = await _tenant_id(config, tenant) if tenant is not None else None
    redis = Redis.from_url(
        config.redis_url,
        socket_timeout=config.redis_timeout_seconds,
        socket_connect_timeout=config.redis_timeout_seconds,
    )
    try:
        bus = RedisStreamsBus(redis, prefix=config.redis_prefix, read_timeout=config.redis_timeout_seconds)
        subscription = bus.subscribe(*streams, from_start=from_start)
        try:
            await subscription.ready()
        except (RedisError, OSError) as exc:
            raise TailError(f"cannot reach Redis ({type(exc).__name__})") from None
        print(f"following {', '.join(streams)}; Ctrl-C to stop", file=sys.stderr, flush=True)
        while True:
            try:
                async for stream, event in subscription:
                    if tenant_id is None or event.tenant == tenant_id:
                        print(json.dumps({"stream": stream, **event.to_dict()}), file=out, flush=True)
            except (RedisError, OSError) as exc:
                # The subscription resumes after the last event printed once Redis answers again.
                print(f"lost Redis ({type(exc).__name__}); retrying", file=sys.stderr, flush=True)
                await asyncio.sleep(_RETRY_SECONDS)
    finally:
        with contextlib.suppress(RedisError, OSError):
            await redis.aclose()


async def _tenant_id(config: Config, ref: str) -> str:
    engine = create_engine(config.database_url, timeout_seconds=config.database_timeout_seconds)
    try:
        # Only the tenant's id is read, nothing is decrypted: no need for (or side effects of) the real key.
        store = RegistryStore(session_factory(engine), SecretBox(secrets.token_urlsafe(32)))
        return (await store.tenant(ref)).id
    except NotFound:
        raise TailError(f"no tenant {ref!r} in the registry") from None
    except SQLAlchemyError as exc:
        raise TailError(f"cannot read the registry to find tenant {ref!r} ({type(exc).__name__})") from None
    finally:
        await engine.dispose()
