"""The real services the tests use: PostgreSQL, Redis (shared, or a throw-away server), free ports.

PostgreSQL and Redis are located by GATEWAY_TEST_POSTGRES_URL and GATEWAY_TEST_REDIS_URL (defaults:
the local services). A test that needs one and cannot reach it errors; it is never skipped.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

POSTGRES_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("GATEWAY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
ADMIN_TOKEN = "test-admin-" + secrets.token_urlsafe(24)
SECRET_KEY = secrets.token_urlsafe(48)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _with_database(url: str, database: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + database))


class PostgresDatabases:
    """Creates throw-away databases on the test server and drops them afterwards."""

    def __init__(self) -> None:
        self._created: list[str] = []

    def create(self) -> str:
        name = f"gw_test_{secrets.token_hex(6)}"
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return _with_database(POSTGRES_URL, name)

    def drop_all(self) -> None:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            for name in self._created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ThrowAwayRedis:
    """A redis-server of the test's own, on a free port, that it can stop and start (empty again)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(self.url, socket_connect_timeout=0.5).ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
