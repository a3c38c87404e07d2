"""Serving the app with uvicorn, and stopping it without dropping requests.

On SIGTERM (what Kubernetes, Docker and systemd send) a `GatewayServer`:

1. drains for `GATEWAY_SHUTDOWN_DRAIN_SECONDS` (default 5): it keeps accepting and answering, while
   /readyz answers 503 `{"status": "draining"}` so that load balancers stop sending it requests;
2. then stops accepting, asks keep-alive connections to close after their current answer and waits for
   the requests in flight, at most `GATEWAY_SHUTDOWN_TIMEOUT_SECONDS` (default 25; uvicorn's
   `timeout_graceful_shutdown`), cancelling whatever still runs after that;
3. runs the app's lifespan shutdown, which closes the Redis pool, the bus and the registry engine.

A second SIGTERM during the drain ends it early; SIGINT (Ctrl-C) skips the drain, and a second SIGINT
forces the exit (uvicorn's behaviour). A signal that arrives before the app has started stops at once.

With `--workers` above 1, `Supervisor` (uvicorn's, running `GatewayServer` workers) takes the SIGTERM
and sends SIGTERM to every worker, then waits for them: each worker drains, stops and shuts down as
above, at the same time, so the whole takes as long as one worker does.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import signal
import socket
import sys
import threading
import time
from types import FrameType

import uvicorn
from pydantic import Field
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from gateway.config import EnvSettings, Seconds, SecondsOrZero
from gateway.service.connections import BoundedConfig, ConnectionSettings
from gateway.service.health import DRAINING
from gateway.telemetry.logs import LOG_CONFIG

logger = logging.getLogger("gateway.service.serving")


class ShutdownSettings(EnvSettings):
    drain_seconds: SecondsOrZero = Field(
        5.0,
        validation_alias="GATEWAY_SHUTDOWN_DRAIN_SECONDS",
        description="after SIGTERM, answer /readyz with 503 while still serving; 0: no drain",
    )
    timeout_seconds: Seconds = Field(
        25.0,
        validation_alias="GATEWAY_SHUTDOWN_TIMEOUT_SECONDS",
        description="then, the longest wait for requests in flight",
    )


def uvicorn_config(
    *, host: str, port: int, workers: int, shutdown: ShutdownSettings, connections: ConnectionSettings
) -> uvicorn.Config:
    """uvicorn's settings for `gateway serve`; creating them configures logging (JSON) for this process."""
    return BoundedConfig(
        "gateway.service.app:create_app",
        connections=connections,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        proxy_headers=True,
        server_header=False,
        # One JSON configuration, applied by uvicorn once per process (and in each worker it spawns).
        log_config=copy.deepcopy(LOG_CONFIG),
        log_level="info",
        access_log=False,  # gateway.edge.access_log writes the access lines
        timeout_graceful_shutdown=shutdown.timeout_seconds,
    )


def serve(config: uvicorn.Config, shutdown: ShutdownSettings) -> None:
    """Run until stopped: one `GatewayServer`, or uvicorn's supervisor of several workers."""
    if config.workers > 1:
        sock: socket.socket = config.bind_socket()
        Supervisor(config, sockets=[sock], drain_seconds=shutdown.drain_seconds).run()
        return
    server = GatewayServer(config, drain_seconds=shutdown.drain_seconds)
    with contextlib.suppress(KeyboardInterrupt):  # the SIGINT uvicorn re-raises once it has stopped
        server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


class GatewayServer(uvicorn.Server):
    """A uvicorn server that drains for `drain_seconds` after SIGTERM before it shuts down."""

    def __init__(self, config: uvicorn.Config, *, drain_seconds: float) -> None:
        super().__init__(config)
        self.drain_seconds = drain_seconds
        self.draining = threading.Event()
        self._drain_until: float | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        # The lifespan state is copied into every request's scope: /readyz finds the event there.
        self.lifespan.state[DRAINING] = self.draining
        await super().startup(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if (
            sig == signal.SIGTERM
            and self.started
            and not self.should_exit
            and not self.draining.is_set()
            and self.drain_seconds > 0
        ):
            # Re-raised once the server has stopped, as uvicorn does with the signals it handled.
            self._captured_signals.append(sig)
            self._drain_until = time.monotonic() + self.drain_seconds
            self.draining.set()
            logger.info("SIGTERM received: draining for %g s before shutting down", self.drain_seconds)
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self._drain_until is not None and not self.should_exit and time.monotonic() >= self._drain_until:
            logger.info("drain over: no longer accepting connections")
            self.should_exit = True
        return await super().on_tick(counter)


class _WorkerProcess(Process):
    """A worker of `Supervisor`: pickled into a spawned process, where it runs a `GatewayServer`."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], *, drain_seconds: float) -> None:
        self.drain_seconds = drain_seconds
        super().__init__(config, sockets)

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            self._server = GatewayServer(self.config, drain_seconds=self.drain_seconds)
        return self._server


class Supervisor(Multiprocess):
    """uvicorn's supervisor of several workers, whose workers are `GatewayServer`s.

    uvicorn creates its workers in four methods (start, restart of a dead one, SIGHUP, SIGTTIN), each
    naming its own worker class; they are repeated here with ours. Written against uvicorn 0.54.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], *, drain_seconds: float) -> None:
        super().__init__(config, sockets)
        self.drain_seconds = drain_seconds

    def _new_process(self) -> Process:
        process = _WorkerProcess(self.config, self.sockets, drain_seconds=self.drain_seconds)
        process.start()
        return process

    def init_processes(self) -> None:
        for _ in range(self.processes_num):
            self.processes.append(self._new_process())

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                logger.error("worker [%s] failed to start; stopping", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            logger.info("worker [%s] died; starting another", process.pid)
            self.processes[index] = self._new_process()

    def restart_all(self) -> None:
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._new_process()
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                if not self.should_exit.is_set():
                    logger.error("worker [%s] was not ready in time; restart aborted", new.pid)
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def handle_ttin(self) -> None:
        logger.info("SIGTTIN received: one more worker")
        self.processes_num += 1
        self.processes.append(self._new_process())
