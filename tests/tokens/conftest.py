"""Fixtures for the guest-token tests: real keys, a real Redis, and the token pieces of a gateway replica."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from gateway.tokens.claims import GuestUser, Resource
from gateway.tokens.keyring import KeyLoader, KeyRing
from gateway.tokens.keys import Algorithm, GeneratedKey, KeyStatus, SigningKey, generate_key
from gateway.tokens.mint import mint_guest_token
from gateway.tokens.revocation import InProcessRevocationStore, RevocationStore
from gateway.tokens.verify import TenantStatus, TokenVerifier

ISSUER = "https://gateway.test"
AUDIENCE = "embedded-analytics"
LEEWAY = 10.0
MAX_LIFETIME = 900.0
RECORD_TTL = MAX_LIFETIME + LEEWAY
NO_RETRY = Retry(NoBackoff(), 0)  # an outage test wants the failure now, not after backing off


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _redis_url() -> str:
    return os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def record_ttl() -> float:
    """How long revocation records live: the longest token life plus the leeway, as the verifier demands."""
    return RECORD_TTL


@pytest.fixture
def redis_key_prefix() -> str:
    return f"test:tokens:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_client(redis_key_prefix: str) -> AsyncIterator[Redis]:
    """A client on the test Redis; an unreachable Redis makes the test error (never skip)."""
    client = Redis.from_url(_redis_url(), socket_timeout=2.0, socket_connect_timeout=2.0)
    await client.ping()
    try:
        yield client
    finally:
        stale = [key async for key in client.scan_iter(match=f"{redis_key_prefix}*")]
        if stale:
            await client.delete(*stale)
        await client.aclose()


class RedisProxy:
    """A TCP relay in front of the test Redis, so a test can cut the network for real mid-session."""

    def __init__(self, url: str) -> None:
        self.target = Redis.from_url(url).connection_pool.connection_kwargs
        self._server: asyncio.Server | None = None
        self._pumps: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones, as a Redis outage would."""
        assert self._server is not None
        self._server.close()
        for pump in self._pumps:
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        host, port = self.target.get("host", "127.0.0.1"), self.target.get("port", 6379)
        upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
        pumps = [
            asyncio.ensure_future(self._pump(client_reader, upstream_writer)),
            asyncio.ensure_future(self._pump(upstream_reader, client_writer)),
        ]
        self._pumps.update(pumps)
        await asyncio.gather(*pumps, return_exceptions=True)

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


@pytest.fixture
async def proxied_redis(redis_key_prefix: str) -> AsyncIterator[tuple[Redis, RedisProxy]]:
    """A client that reaches the test Redis through a `RedisProxy` the test can cut."""
    url = _redis_url()
    proxy = RedisProxy(url)
    await proxy.start()
    target = proxy.target
    client = Redis(
        host="127.0.0.1",
        port=proxy.port,
        db=target.get("db", 0),
        password=target.get("password"),
        socket_timeout=1.0,
        socket_connect_timeout=1.0,
        retry=NO_RETRY,
    )
    try:
        yield client, proxy
    finally:
        await client.aclose()
        await proxy.cut()


@functools.cache
def _pooled_key(algorithm: Algorithm, index: int) -> GeneratedKey:
    # RSA-3072 generation takes a noticeable fraction of a second: make each key once per session.
    return generate_key(algorithm)


@pytest.fixture
def new_key() -> Callable[[Algorithm], GeneratedKey]:
    """Hand out distinct generated keys (from a per-session pool) for one test."""
    handed_out: dict[str, int] = {}

    def take(algorithm: Algorithm) -> GeneratedKey:
        index = handed_out.get(algorithm, 0)
        handed_out[algorithm] = index + 1
        return _pooled_key(algorithm, index)

    return take


class Clock:
    """Wall-clock time that a test can move forward, injected where the library reads the time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Replica:
    """The pieces the data plane wires together, with an in-process revocation store by default."""

    issuer: ClassVar[str] = ISSUER
    audience: ClassVar[str] = AUDIENCE
    leeway: ClassVar[float] = LEEWAY
    max_lifetime: ClassVar[float] = MAX_LIFETIME

    new_key: Callable[[Algorithm], GeneratedKey]
    key_loader: KeyLoader | None = None
    revocations: RevocationStore | None = None
    clock: Clock = field(default_factory=Clock)
    tenant_statuses: dict[str, TenantStatus] = field(default_factory=dict)
    keyring: KeyRing = field(init=False)
    verifier: TokenVerifier = field(init=False)

    def __post_init__(self) -> None:
        self.keyring = KeyRing(self.key_loader, clock=self.clock)
        if self.revocations is None:
            self.revocations = InProcessRevocationStore(record_ttl=RECORD_TTL, clock=self.clock)
        self.verifier = TokenVerifier(
            self.keyring,
            audience=AUDIENCE,
            issuer=ISSUER,
            tenant_status=lambda tenant_id: self.tenant_statuses.get(tenant_id, "unknown"),
            revocations=self.revocations,
            leeway=LEEWAY,
            max_lifetime=MAX_LIFETIME,
            clock=self.clock,
        )

    def add_tenant(self, tenant_id: str, algorithm: Algorithm = "EdDSA") -> SigningKey:
        """Register an active tenant with one active key; return its signing key."""
        signing_key = SigningKey.from_generated(self.new_key(algorithm), tenant_id=tenant_id)
        self.tenant_statuses[tenant_id] = "active"
        self.keyring.replace_tenant_keys(tenant_id, [signing_key.verification_key()])
        return signing_key

    def rotate(self, tenant_id: str, old: SigningKey, *, old_status: KeyStatus) -> SigningKey:
        """Make a fresh key active and give the previous one `old_status`, as a rotation event would."""
        new = SigningKey.from_generated(self.new_key(old.algorithm), tenant_id=tenant_id)
        self.keyring.replace_tenant_keys(
            tenant_id, [old.verification_key(old_status), new.verification_key()]
        )
        return new

    def mint(self, signing_key: SigningKey, **overrides: Any) -> str:
        options: dict[str, Any] = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "subject": "alice",
            "user": GuestUser("alice", "Alice", "Liddell", {"region": "emea"}),
            "resources": [Resource("dashboard", "sales"), Resource("chart", 7)],
            "rls_rules": [{"dataset": "orders", "clause": "region = 'emea'"}],
            "ttl": 300,
            "now": self.clock(),
        }
        options.update(overrides)
        return mint_guest_token(signing_key, **options).token


@pytest.fixture
def make_replica(new_key: Callable[[Algorithm], GeneratedKey]) -> Callable[..., Replica]:
    """Build a `Replica`; `key_loader` backs its key ring with a registry, `revocations` picks the store."""
    return functools.partial(Replica, new_key)


@pytest.fixture
def replica(make_replica: Callable[..., Replica]) -> Replica:
    return make_replica()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value).encode())


Forge = Callable[[dict[str, Any], dict[str, Any], Callable[[bytes], bytes]], str]


@pytest.fixture
def forge() -> Forge:
    """Build a compact JWS by hand, as an attacker would: any header, any payload, any signer."""

    def build(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
        signing_input = f"{_b64url_json(header)}.{_b64url_json(payload)}"
        return f"{signing_input}.{_b64url(sign(signing_input.encode()))}"

    return build


@pytest.fixture
def claims_of() -> Callable[[str], tuple[dict[str, Any], dict[str, Any]]]:
    """The (header, payload) of a token, read without verification."""

    def read(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        header, payload, _ = token.split(".")
        pad = "=="
        return (
            json.loads(base64.urlsafe_b64decode(header + pad)),
            json.loads(base64.urlsafe_b64decode(payload + pad)),
        )

    return read
