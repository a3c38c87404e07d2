"""Access lines: the shape of every other log line, written in batches, silenced through logging."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator

import pytest

from gateway.edge.access_log import FLUSH_BYTES, FLUSH_SECONDS, LOGGER_NAME, AccessLog
from gateway.telemetry import logs

pytestmark = pytest.mark.anyio


@pytest.fixture(autouse=True)
def access_lines_on() -> Iterator[None]:
    """As `gateway serve` configures logging (root at INFO); pytest leaves the root at WARNING."""
    logger = logging.getLogger(LOGGER_NAME)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield
    logger.setLevel(level)


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_lines_wait_for_the_batch_then_carry_the_request() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    context = logs.begin_request("trace-1")
    context.tenant = 'ten"ant'  # escaped, whatever an id holds
    log.record(method="POST", route="/api/v1/chart/data", status=200, seconds=0.0123456)
    log.record(method="GET", route="unmatched", status=404, seconds=0.001)
    assert stream.getvalue() == ""
    await asyncio.sleep(FLUSH_SECONDS * 4)
    first, second = lines(stream)
    assert first == {
        "timestamp": first["timestamp"],
        "level": "info",
        "logger": LOGGER_NAME,
        "message": "POST /api/v1/chart/data 200",
        "request_id": "trace-1",
        "tenant": 'ten"ant',
        "route": "/api/v1/chart/data",
        "method": "POST",
        "status": 200,
        "duration_ms": 12.346,
    }
    assert str(first["timestamp"]).endswith("+00:00") and len(str(first["timestamp"])) == 29
    assert second["status"] == 404 and second["route"] == "unmatched"


class Writes(io.StringIO):
    """Remembers the size of every write."""

    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def write(self, text: str) -> int:
        self.sizes.append(len(text.encode()))
        return super().write(text)


async def test_a_batch_is_written_before_it_outgrows_one_atomic_pipe_write() -> None:
    stream = Writes()
    log = AccessLog(stream)
    logs.begin_request("r")
    for _ in range(200):
        log.record(method="GET", route="/healthz", status=200, seconds=0.0)
    assert len(stream.sizes) >= 2  # written without waiting for the timer
    assert all(size <= FLUSH_BYTES for size in stream.sizes)
    log.flush()
    assert len(lines(stream)) == 200  # every line whole


async def test_stopping_the_app_flushes_what_waits() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    log.record(method="GET", route="/healthz", status=200, seconds=0.0)
    log.flush()
    assert len(lines(stream)) == 1


async def test_the_access_logger_level_silences_the_lines() -> None:
    stream = io.StringIO()
    log = AccessLog(stream)
    logging.getLogger(LOGGER_NAME).setLevel(logging.WARNING)
    log.record(method="GET", route="/healthz", status=200, seconds=0.0)
    log.flush()
    assert stream.getvalue() == ""
