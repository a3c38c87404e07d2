"""Gateways for tests: `gateway serve` in its own process, or the same app served in this one.

`GatewayProcess` is what a user starts; tests of signals, workers, the command line or logs need it.
`InProcessGateway` serves `create_app` with uvicorn (uvloop, httptools) on a thread of the test
process, on a free port: the same HTTP a client meets, without a Python start-up per gateway.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from gateway.config import Config
from gateway.service.app import create_app
from tests.support.services import ADMIN_TOKEN, SECRET_KEY, free_port


def gateway_env(database_url: str | None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_") and k != "REDIS_URL"}
    # No load balancer waits on a test's gateway: it stops at once (tests of the drain set their own).
    env.update(
        GATEWAY_ADMIN_TOKEN=ADMIN_TOKEN, GATEWAY_SECRET_KEY=SECRET_KEY, GATEWAY_SHUTDOWN_DRAIN_SECONDS="0"
    )
    if database_url is not None:
        env["GATEWAY_DATABASE_URL"] = database_url
    env.update(extra)
    return env


class GatewayProcess:
    """`gateway serve` in its own OS process, as a user would start it."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = env
        self.cwd = cwd
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        # A file, not a pipe: a pipe nobody drains blocks the server once its buffer fills.
        self.log_path = cwd / f"gateway-{self.port}.log"

    def start(self, *extra_args: str) -> GatewayProcess:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gateway", "serve", "--port", str(self.port), *extra_args],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gateway did not answer /healthz within 30 s:\n{self.output()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> GatewayProcess:
        self.stop()
        return self.start()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)


class InProcessGateway:
    """The app of `gateway serve`, served by uvicorn on a thread of this process; real HTTP."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> InProcessGateway:
        app = create_app(Config.from_env(self.env))
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, loop="uvloop", http="httptools", log_config=None
        )
        self._server = server = uvicorn.Server(config)
        self._thread = thread = threading.Thread(target=server.run, name=f"gateway-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the gateway did not start (its lifespan failed: see the log)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the gateway did not start within 30 s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the gateway did not stop within 30 s"
        self._server = self._thread = None

    def restart(self) -> InProcessGateway:
        self.stop()
        return self.start()

    def client(self, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", **kwargs.pop("headers", {})}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kwargs)
