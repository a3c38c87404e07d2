"""Settings: production refuses to start with weak secrets or a file database, and says why."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from gateway.config import Config, ConfigError, weak_secret_reason
from tests.support.gateways import gateway_env

STRONG = secrets.token_urlsafe(48)
PG = "postgresql://gw@db.internal:5432/registry"


def production(**overrides: str) -> dict[str, str]:
    env = {
        "GATEWAY_ENV": "production",
        "GATEWAY_ADMIN_TOKEN": STRONG,
        "GATEWAY_SECRET_KEY": secrets.token_urlsafe(48),
        "GATEWAY_DATABASE_URL": PG,
    }
    env.update(overrides)
    return {k: v for k, v in env.items() if v}


def test_a_strong_production_configuration_is_accepted() -> None:
    config = Config.from_env(production(REDIS_URL="redis://cache:6379/0"))
    assert config.production and config.redis_url == "redis://cache:6379/0"
    assert config.database_url == "postgresql+asyncpg://gw@db.internal:5432/registry"


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"GATEWAY_ADMIN_TOKEN": ""}, "GATEWAY_ADMIN_TOKEN is not set"),
        ({"GATEWAY_ADMIN_TOKEN": "short-token"}, "shorter than 32"),
        ({"GATEWAY_ADMIN_TOKEN": "a" * 40}, "too repetitive"),
        ({"GATEWAY_ADMIN_TOKEN": "ab" * 20}, "too repetitive"),
        ({"GATEWAY_ADMIN_TOKEN": "changeme-changeme-changeme-changeme"}, "well-known default"),
        ({"GATEWAY_SECRET_KEY": ""}, "GATEWAY_SECRET_KEY is not set"),
        ({"GATEWAY_SECRET_KEY": "0123456789"}, "GATEWAY_SECRET_KEY is weak"),
        ({"GATEWAY_DATABASE_URL": ""}, "SQLite"),
        ({"GATEWAY_DATABASE_URL": "sqlite:///registry.db"}, "SQLite"),
    ],
    ids=[
        "no-admin",
        "short-admin",
        "one-char",
        "two-chars",
        "default",
        "no-secret",
        "weak-secret",
        "default-db",
        "sqlite",
    ],
)
def test_production_refuses_weak_settings(overrides: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint):
        Config.from_env(production(**overrides))


def test_development_accepts_the_embedded_defaults() -> None:
    config = Config.from_env({})
    assert not config.production
    assert config.database_url == "sqlite+aiosqlite:///./gateway.db"
    assert config.redis_url is None and config.admin_token is None


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"GATEWAY_ENV": "staging"}, "GATEWAY_ENV: Input should be 'development' or 'production'"),
        ({"GATEWAY_REDIS_TIMEOUT": "soon"}, "GATEWAY_REDIS_TIMEOUT: Input should be a valid number"),
        ({"GATEWAY_REDIS_TIMEOUT": "-1"}, "GATEWAY_REDIS_TIMEOUT: Input should be greater than 0"),
        # An infinite Redis timeout would let a hung Redis hold every request, not fail it closed.
        ({"GATEWAY_REDIS_TIMEOUT": "inf"}, "GATEWAY_REDIS_TIMEOUT: Input should be a finite number"),
        ({"GATEWAY_DATABASE_TIMEOUT": "nan"}, "GATEWAY_DATABASE_TIMEOUT: Input should be a finite number"),
        (
            {"GATEWAY_MAX_REQUEST_BYTES": "1e400"},
            "GATEWAY_MAX_REQUEST_BYTES: Input should be a finite number",
        ),
        (
            {"GATEWAY_MINT_RATE_LIMIT": "0.5"},
            "GATEWAY_MINT_RATE_LIMIT: Input should be a valid integer, got a number with a fractional part",
        ),
        # A tenant without any share would be refused every data request: only per-user limits may be off.
        (
            {"GATEWAY_TENANT_QUERY_CONCURRENCY": "0"},
            "GATEWAY_TENANT_QUERY_CONCURRENCY: Input should be greater than 0",
        ),
        (
            {"GATEWAY_USER_DATA_RATE": "-1"},
            "GATEWAY_USER_DATA_RATE: Input should be greater than or equal to 0",
        ),
        (
            {"GATEWAY_EVENTS_MAX_AGE_SECONDS": "-1"},
            "GATEWAY_EVENTS_MAX_AGE_SECONDS: Input should be greater than or equal to 0",
        ),
        (
            {"GATEWAY_EVENTS_MAX_AGE_SECONDS": "inf"},
            "GATEWAY_EVENTS_MAX_AGE_SECONDS: Input should be a finite",
        ),
        (
            {"GATEWAY_REVOCATION_FAIL_OPEN": "maybe"},
            "GATEWAY_REVOCATION_FAIL_OPEN: Input should be a valid boolean",
        ),
        (
            {"GATEWAY_DATABASE_URL": "mysql://db/x"},
            "GATEWAY_DATABASE_URL: Input should be a postgresql:// or sqlite://",
        ),
    ],
)
def test_malformed_settings_fail_loudly(env: dict[str, str], complaint: str) -> None:
    with pytest.raises(ConfigError, match=complaint) as refused:
        Config.from_env(env)
    assert "\n" not in str(refused.value)


def test_a_refused_value_is_not_repeated() -> None:
    # A refused URL may carry a password, a refused secret is a secret.
    password = "hunter2-" + secrets.token_urlsafe(8)
    with pytest.raises(ConfigError) as refused:
        Config.from_env({"GATEWAY_DATABASE_URL": f"mysql://gw:{password}@db/x", "GATEWAY_REDIS_TIMEOUT": "x"})
    assert str(refused.value) == (
        "GATEWAY_DATABASE_URL: Input should be a postgresql:// or sqlite:// URL; "
        "GATEWAY_REDIS_TIMEOUT: Input should be a valid number, unable to parse string as a number"
    )


def test_numbers_are_read_as_written() -> None:
    config = Config.from_env(
        {
            "GATEWAY_MAX_REQUEST_BYTES": "1e6",
            "GATEWAY_MINT_RATE_LIMIT": " 30 ",
            "GATEWAY_REDIS_TIMEOUT": "0.25",
            "GATEWAY_EVENTS_MAX_AGE_SECONDS": "0",
            "GATEWAY_WEBHOOK_MAX_ATTEMPTS": "",
        }
    )
    assert config.max_request_bytes == 1_000_000 and config.mint_rate_limit_per_minute == 30
    assert config.redis_timeout_seconds == 0.25 and config.events_max_age_seconds == 0
    assert config.webhook_max_attempts == 8


def test_fair_shares_default_to_per_tenant_limits_only() -> None:
    config = Config.from_env({"GATEWAY_USER_QUERY_CONCURRENCY": "2"})
    assert (config.tenant_data_rate_per_second, config.tenant_query_concurrency) == (500, 8)
    assert (config.user_data_rate_per_second, config.user_query_concurrency) == (0, 2)
    assert config.query_slot_lease_seconds == 10.0


def test_secrets_never_show_in_reprs() -> None:
    config = Config.from_env(production())
    assert STRONG not in repr(config) and STRONG not in str(config.admin_token)
    assert config.admin_token == SecretStr(STRONG)
    assert weak_secret_reason(STRONG) is None


def test_serve_in_production_with_a_weak_token_exits_with_the_reason(tmp_path: Path) -> None:
    weak = "weak-but-secret-value"
    env = gateway_env(None, GATEWAY_ENV="production", GATEWAY_ADMIN_TOKEN=weak)
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "refusing to start in production mode" in result.stderr
    assert "GATEWAY_ADMIN_TOKEN is weak" in result.stderr and "SQLite" in result.stderr
    assert weak not in result.stderr + result.stdout
    assert not (tmp_path / "gateway.db").exists()
