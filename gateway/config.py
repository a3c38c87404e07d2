"""Settings, read once from the environment at start-up.

Every setting is documented in README.md ("Settings"). Values are cast explicitly and a bad value
fails loudly at start rather than at the first request; secrets are wrapped so that they never
show up in a repr, a log line or a traceback.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

Environment = Literal["development", "production"]

DEFAULT_DATABASE_URL: Final = "sqlite+aiosqlite:///./gateway.db"
DEV_SECRET_KEY_FILE: Final = "gateway-secret.key"  # noqa: S105 (a file name, not a secret)
MIN_SECRET_LENGTH: Final = 32
# Shannon entropy per character below which a long secret is still guessable ("aaaa...", "abab...").
_MIN_BITS_PER_CHAR: Final = 3.0
_KNOWN_WEAK_SECRETS: Final = frozenset({"changeme", "secret", "password", "admin", "test", "default"})


class ConfigError(Exception):
    """The environment does not describe a gateway that may start."""


class Secret:
    """A string that hides itself from repr and str; read it with `reveal()`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and secrets.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class Config:
    environment: Environment = "development"
    # URLs may embed passwords: kept out of repr.
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    admin_token: Secret | None = None
    # Encrypts private signing keys and warehouse credentials at rest in the registry.
    secret_key: Secret | None = None
    redis_timeout_seconds: float = 2.0
    database_timeout_seconds: float = 5.0
    max_request_bytes: int = 256 * 1024
    token_issuer: str = "embed-gateway"  # noqa: S105 (a claim value, not a secret)
    token_audience: str = "embedded-analytics"  # noqa: S105 (a claim value, not a secret)
    redis_prefix: str = "gw:"
    # Serve while revocation state cannot be trusted (Redis unreachable): an explicit, risky opt-in.
    revocation_fail_open: bool = False
    mint_rate_limit_per_minute: int = 600
    access_token_ttl_seconds: int = 600
    # Event streams are trimmed on every publish to about this many entries and this age (0: any age).
    events_maxlen: int = 100_000
    events_max_age_seconds: float = 7 * 24 * 3600.0
    # Webhook deliveries: attempts before the dead-letter stream, the backoff's base, and how long a
    # replica's unfinished deliveries wait before another replica takes them over.
    webhook_max_attempts: int = 8
    webhook_backoff_seconds: float = 1.0
    webhook_claim_idle_seconds: float = 30.0
    # Webhooks may target http and loopback/private/link-local addresses: for tests and internal networks.
    webhook_allow_private: bool = False
    # Session mode of embedding: ticket life, idle and absolute session timeouts (gateway.guest.sessions).
    session_ticket_seconds: float = 60.0
    session_idle_seconds: float = 900.0
    session_max_seconds: float = 28800.0

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def data_dir(self) -> Path:
        """Where development-mode files live: beside the SQLite registry, else the working directory."""
        prefix = "sqlite+aiosqlite:///"
        if self.database_url.startswith(prefix):
            return Path(self.database_url[len(prefix) :]).resolve().parent
        return Path.cwd()

    def effective_secret_key(self) -> Secret:
        """GATEWAY_SECRET_KEY, or in development a random key persisted in the data directory."""
        return self.secret_key or dev_secret_key(self.data_dir())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        environment = env.get("GATEWAY_ENV", "development").strip().lower()
        if environment not in ("development", "production"):
            raise ConfigError(f"GATEWAY_ENV must be 'development' or 'production', not {environment!r}")
        config = cls(
            environment="production" if environment == "production" else "development",
            database_url=_normalise_database_url(env.get("GATEWAY_DATABASE_URL") or DEFAULT_DATABASE_URL),
            redis_url=env.get("REDIS_URL") or None,
            admin_token=_secret(env.get("GATEWAY_ADMIN_TOKEN")),
            secret_key=_secret(env.get("GATEWAY_SECRET_KEY")),
            redis_timeout_seconds=env_number(env, "GATEWAY_REDIS_TIMEOUT", 2.0),
            database_timeout_seconds=env_number(env, "GATEWAY_DATABASE_TIMEOUT", 5.0),
            max_request_bytes=_count(env, "GATEWAY_MAX_REQUEST_BYTES", 256 * 1024),
            token_issuer=env.get("GATEWAY_TOKEN_ISSUER") or "embed-gateway",
            token_audience=env.get("GATEWAY_TOKEN_AUDIENCE") or "embedded-analytics",
            redis_prefix=env.get("GATEWAY_REDIS_PREFIX") or "gw:",
            revocation_fail_open=_flag(env, "GATEWAY_REVOCATION_FAIL_OPEN"),
            mint_rate_limit_per_minute=_count(env, "GATEWAY_MINT_RATE_LIMIT", 600),
            access_token_ttl_seconds=_count(env, "GATEWAY_ACCESS_TOKEN_TTL", 600),
            events_maxlen=_count(env, "GATEWAY_EVENTS_MAXLEN", 100_000),
            events_max_age_seconds=env_number(
                env, "GATEWAY_EVENTS_MAX_AGE_SECONDS", 7 * 24 * 3600.0, allow_zero=True
            ),
            webhook_max_attempts=_count(env, "GATEWAY_WEBHOOK_MAX_ATTEMPTS", 8),
            webhook_backoff_seconds=env_number(env, "GATEWAY_WEBHOOK_BACKOFF_SECONDS", 1.0),
            webhook_claim_idle_seconds=env_number(env, "GATEWAY_WEBHOOK_CLAIM_IDLE_SECONDS", 30.0),
            webhook_allow_private=_flag(env, "GATEWAY_WEBHOOK_ALLOW_PRIVATE"),
            session_ticket_seconds=env_number(env, "GATEWAY_SESSION_TICKET_SECONDS", 60.0),
            session_idle_seconds=env_number(env, "GATEWAY_SESSION_IDLE_SECONDS", 900.0),
            session_max_seconds=env_number(env, "GATEWAY_SESSION_MAX_SECONDS", 28800.0),
        )
        config.check()
        return config

    def check(self) -> None:
        """Refuse configurations that would run production with guessable secrets or a local file DB."""
        if not self.production:
            return
        problems = []
        if self.admin_token is None:
            problems.append("GATEWAY_ADMIN_TOKEN is not set")
        elif reason := weak_secret_reason(self.admin_token.reveal()):
            problems.append(f"GATEWAY_ADMIN_TOKEN is weak: {reason}")
        if self.secret_key is None:
            problems.append("GATEWAY_SECRET_KEY is not set (it encrypts signing keys and credentials)")
        elif reason := weak_secret_reason(self.secret_key.reveal()):
            problems.append(f"GATEWAY_SECRET_KEY is weak: {reason}")
        if self.database_url.startswith("sqlite"):
            problems.append("GATEWAY_DATABASE_URL points at SQLite; production needs PostgreSQL")
        if problems:
            raise ConfigError(
                "refusing to start in production mode: "
                + "; ".join(problems)
                + ". Generate secrets with: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )


def weak_secret_reason(value: str) -> str | None:
    if len(value) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    if value.lower() in _KNOWN_WEAK_SECRETS or any(w in value.lower() for w in ("changeme", "password")):
        return "a well-known default"
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    if entropy < _MIN_BITS_PER_CHAR:
        return "too repetitive to be random"
    return None


def dev_secret_key(directory: Path) -> Secret:
    """The development fallback for GATEWAY_SECRET_KEY: random, kept beside the SQLite registry.

    Persisted so that a restart can still decrypt what the previous run stored.
    """
    path = directory / DEV_SECRET_KEY_FILE
    if path.exists():
        return Secret(path.read_text().strip())
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value)
    return Secret(value)


def _secret(value: str | None) -> Secret | None:
    return Secret(value) if value else None


def env_number(env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False) -> float:
    """`env[name]` as a finite number above zero (or zero, where zero means "no limit"); unset: `default`.

    Infinity is refused like any other out-of-range value: an infinite timeout would let a hung Redis
    or database hold requests forever, and an infinite count cannot become an integer.
    """
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}") from None
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        qualifier = "zero or positive" if allow_zero else "positive"
        raise ConfigError(f"{name} must be {qualifier} and finite, not {raw!r}")
    return value


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = env_number(env, name, default)
    if not float(value).is_integer():
        raise ConfigError(f"{name} must be a whole number, not {env[name].strip()!r}")
    return int(value)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, not {raw!r}")


def _normalise_database_url(url: str) -> str:
    """Accept the plain URLs operators write and pick the async driver for them."""
    for plain, driver in (
        ("postgresql://", "postgresql+asyncpg://"),
        ("postgres://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(plain):
            return driver + url[len(plain) :]
    if url.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
        return url
    raise ConfigError("GATEWAY_DATABASE_URL must be a postgresql:// or sqlite:// URL")
