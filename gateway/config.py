"""Settings, read once from the environment at start-up.

Every setting is documented in README.md ("Settings"). Each is one field below, read from the
environment variable named by its alias; a bad value fails loudly at start rather than at the first
request, with a one-line message naming the variable and never its value. Secrets are `SecretStr`s, so
they never show up in a repr, a log line or a traceback.
"""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Final, Literal, Self

from pydantic import BeforeValidator, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

Environment = Literal["development", "production"]

DEFAULT_DATABASE_URL: Final = "sqlite+aiosqlite:///./gateway.db"
DEV_SECRET_KEY_FILE: Final = "gateway-secret.key"  # noqa: S105 (a file name, not a secret)
MIN_SECRET_LENGTH: Final = 32
# Shannon entropy per character below which a long secret is still guessable ("aaaa...", "abab...").
_MIN_BITS_PER_CHAR: Final = 3.0
_KNOWN_WEAK_SECRETS: Final = frozenset({"changeme", "secret", "password", "admin", "test", "default"})


def _read_as_float(value: object) -> object:
    """Counts may be written as floats ("1e6"); `int` then takes a whole one and refuses a fraction."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value  # left for `int` to refuse, with its own message
    return value


# Finite numbers: an infinite timeout would let a hung Redis or database hold requests forever, and an
# infinite count cannot become an integer.
Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
# Where zero means "no limit" or "skip".
SecondsOrZero = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Count = Annotated[int, BeforeValidator(_read_as_float), Field(gt=0)]
CountOrZero = Annotated[int, BeforeValidator(_read_as_float), Field(ge=0)]


class ConfigError(Exception):
    """The environment does not describe a gateway that may start."""


class _EnvironSource(EnvSettingsSource):
    """Environment variables from a given mapping (a test's, a benchmark's) instead of the process's."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name: value for name, value in self._environ.items() if value or not self.env_ignore_empty}


class EnvSettings(BaseSettings):
    """Settings whose fields are read from the environment variables their aliases name."""

    # An empty variable (`GATEWAY_REDIS_TIMEOUT= gateway serve`) is unset: the default applies.
    model_config = SettingsConfigDict(case_sensitive=True, env_ignore_empty=True, frozen=True)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """The settings in `environ` (default: the process's environment); `ConfigError` if refused."""
        source = _EnvironSource(cls, os.environ if environ is None else environ)
        try:
            return cls(_build_sources=((source,), {}))
        except ValidationError as exc:
            # Without the input: a refused value may be a secret or a URL with a password in it.
            raise ConfigError(
                "; ".join(
                    f"{error['loc'][0]}: {error['msg']}" if error["loc"] else error["msg"]
                    for error in exc.errors(include_url=False, include_input=False)
                )
            ) from None


class Config(EnvSettings):
    environment: Environment = Field(
        "development", validation_alias="GATEWAY_ENV", description="development or production"
    )
    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        validation_alias="GATEWAY_DATABASE_URL",
        repr=False,  # may embed a password
        description="the registry: sqlite:///path or postgresql://user:pass@host:port/db",
    )
    redis_url: str | None = Field(
        None,
        validation_alias="REDIS_URL",
        repr=False,  # may embed a password
        description="Redis for state shared by processes; unset: in-process state, for one process",
    )
    admin_token: SecretStr | None = Field(
        None, validation_alias="GATEWAY_ADMIN_TOKEN", description="bearer token of the onboarding API"
    )
    secret_key: SecretStr | None = Field(
        None,
        validation_alias="GATEWAY_SECRET_KEY",
        description="encrypts private signing keys and warehouse credentials at rest in the registry",
    )
    redis_timeout_seconds: Seconds = Field(
        2.0, validation_alias="GATEWAY_REDIS_TIMEOUT", description="Redis connects, commands, readiness"
    )
    database_timeout_seconds: Seconds = Field(
        5.0, validation_alias="GATEWAY_DATABASE_TIMEOUT", description="registry connects and statements"
    )
    max_request_bytes: Count = Field(
        256 * 1024, validation_alias="GATEWAY_MAX_REQUEST_BYTES", description="largest accepted request body"
    )
    token_issuer: str = Field(
        "embed-gateway", validation_alias="GATEWAY_TOKEN_ISSUER", description="the iss of guest tokens"
    )
    token_audience: str = Field(
        "embedded-analytics", validation_alias="GATEWAY_TOKEN_AUDIENCE", description="the aud of guest tokens"
    )
    redis_prefix: str = Field(
        "gw:", validation_alias="GATEWAY_REDIS_PREFIX", description="prefix of every Redis key and stream"
    )
    revocation_fail_open: bool = Field(
        False,
        validation_alias="GATEWAY_REVOCATION_FAIL_OPEN",
        description="serve while revocation state cannot be read from Redis: an explicit, risky opt-in",
    )
    mint_rate_limit_per_minute: Count = Field(
        600, validation_alias="GATEWAY_MINT_RATE_LIMIT", description="guest tokens one app may mint a minute"
    )
    tenant_data_rate_per_second: Count = Field(
        500,
        validation_alias="GATEWAY_TENANT_DATA_RATE",
        description="chart-data and query requests one tenant may send a second, over all replicas",
    )
    user_data_rate_per_second: CountOrZero = Field(
        0,
        validation_alias="GATEWAY_USER_DATA_RATE",
        description="the same for one user (token subject) of a tenant; 0: no per-user limit",
    )
    tenant_query_concurrency: Count = Field(
        8,
        validation_alias="GATEWAY_TENANT_QUERY_CONCURRENCY",
        description="warehouse queries one tenant may have running at once, over all replicas",
    )
    user_query_concurrency: CountOrZero = Field(
        0,
        validation_alias="GATEWAY_USER_QUERY_CONCURRENCY",
        description="the same for one user (token subject) of a tenant; 0: no per-user limit",
    )
    query_slot_lease_seconds: Seconds = Field(
        10.0,
        validation_alias="GATEWAY_QUERY_SLOT_LEASE_SECONDS",
        description="a query slot held by a replica that stopped renewing it (it died) frees after this",
    )
    access_token_ttl_seconds: Count = Field(
        600, validation_alias="GATEWAY_ACCESS_TOKEN_TTL", description="life of an OAuth access token"
    )
    events_maxlen: Count = Field(
        100_000,
        validation_alias="GATEWAY_EVENTS_MAXLEN",
        description="each event stream is trimmed to about this many entries on every publish",
    )
    events_max_age_seconds: SecondsOrZero = Field(
        7 * 24 * 3600.0,
        validation_alias="GATEWAY_EVENTS_MAX_AGE_SECONDS",
        description="events older than this are trimmed on every publish; 0: any age is kept",
    )
    webhook_max_attempts: Count = Field(
        8,
        validation_alias="GATEWAY_WEBHOOK_MAX_ATTEMPTS",
        description="attempts at a webhook delivery before the dead-letter stream",
    )
    webhook_backoff_seconds: Seconds = Field(
        1.0, validation_alias="GATEWAY_WEBHOOK_BACKOFF_SECONDS", description="base of the retry backoff"
    )
    webhook_claim_idle_seconds: Seconds = Field(
        30.0,
        validation_alias="GATEWAY_WEBHOOK_CLAIM_IDLE_SECONDS",
        description="after this, another replica takes over a silent replica's unfinished deliveries",
    )
    webhook_allow_private: bool = Field(
        False,
        validation_alias="GATEWAY_WEBHOOK_ALLOW_PRIVATE",
        description="webhooks may target http and internal addresses: tests and trusted networks",
    )
    session_ticket_seconds: Seconds = Field(
        60.0,
        validation_alias="GATEWAY_SESSION_TICKET_SECONDS",
        description="how long a ticket can be redeemed",
    )
    session_idle_seconds: Seconds = Field(
        900.0, validation_alias="GATEWAY_SESSION_IDLE_SECONDS", description="a session unused this long ends"
    )
    session_max_seconds: Seconds = Field(
        28800.0, validation_alias="GATEWAY_SESSION_MAX_SECONDS", description="the longest a session lasts"
    )

    @field_validator("environment", mode="before")
    @classmethod
    def _environment_in_any_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
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
        raise PydanticCustomError("database_url", "Input should be a postgresql:// or sqlite:// URL")

    @model_validator(mode="after")
    def _refuse_weak_production(self) -> Self:
        """Refuse configurations that would run production with guessable secrets or a local file DB."""
        if not self.production:
            return self
        problems = []
        if self.admin_token is None:
            problems.append("GATEWAY_ADMIN_TOKEN is not set")
        elif reason := weak_secret_reason(self.admin_token.get_secret_value()):
            problems.append(f"GATEWAY_ADMIN_TOKEN is weak: {reason}")
        if self.secret_key is None:
            problems.append("GATEWAY_SECRET_KEY is not set (it encrypts signing keys and credentials)")
        elif reason := weak_secret_reason(self.secret_key.get_secret_value()):
            problems.append(f"GATEWAY_SECRET_KEY is weak: {reason}")
        if self.database_url.startswith("sqlite"):
            problems.append("GATEWAY_DATABASE_URL points at SQLite; production needs PostgreSQL")
        if problems:
            raise PydanticCustomError(
                "production",
                "refusing to start in production mode: "
                + "; ".join(problems)
                + ". Generate secrets with: python -c 'import secrets; print(secrets.token_urlsafe(48))'",
            )
        return self

    @property
    def production(self) -> bool:
        return self.environment == "production"

    def data_dir(self) -> Path:
        """Where development-mode files live: beside the SQLite registry, else the working directory."""
        prefix = "sqlite+aiosqlite:///"
        if self.database_url.startswith(prefix):
            return Path(self.database_url[len(prefix) :]).resolve().parent
        return Path.cwd()

    def effective_secret_key(self) -> SecretStr:
        """GATEWAY_SECRET_KEY, or in development a random key persisted in the data directory."""
        return self.secret_key or dev_secret_key(self.data_dir())


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


def dev_secret_key(directory: Path) -> SecretStr:
    """The development fallback for GATEWAY_SECRET_KEY: random, kept beside the SQLite registry.

    Persisted so that a restart can still decrypt what the previous run stored.
    """
    path = directory / DEV_SECRET_KEY_FILE
    if path.exists():
        return SecretStr(path.read_text().strip())
    value = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(value)
    return SecretStr(value)
