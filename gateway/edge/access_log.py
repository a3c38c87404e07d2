"""The access log: one JSON line per answered request, written straight to stderr in batches.

A line has the shape of every other log line (`gateway.telemetry.logs.JsonFormatter`: timestamp, level,
logger, message, the request's id and tenant) plus the route template, method, status and duration. It is
built here rather than through the logging module, because a log record, its formatter and a write
per line cost more than answering from the result cache. Lines are buffered and written together
(nginx's `access_log ... buffer= flush=`): before the waiting lines would exceed 4 KiB, else 50 ms after
the first of them, and when the app stops. A process killed outright loses at most those 50 ms of lines.

The `gateway.access` logger's level still decides whether lines are written: set it above INFO to stop
them. Its handlers are not used: the lines always go to stderr, where
`gateway.telemetry.logs` sends every line.
No header, query string or raw path is ever written (see `gateway.edge.route_template`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Final, TextIO

from gateway.telemetry import logs
from gateway.telemetry.metrics import STANDARD_METHODS

LOGGER_NAME: Final = "gateway.access"
# At most a pipe's atomic write (PIPE_BUF): with several workers on one stderr, lines never tear.
FLUSH_BYTES: Final = 4096
FLUSH_SECONDS: Final = 0.05
# Quoted strings and fixed fields are remembered (methods, route templates, statuses, tenant ids:
# few); bounded all the same.
_QUOTED_MAX: Final = 4096
# timestamp (second, millisecond), message, request id and tenant, route/method/status, duration (ms, µs)
_LINE: Final = (
    '{"timestamp":"%s.%03d+00:00","level":"info","logger":"' + LOGGER_NAME + '",'
    '"message":%s%s,%s,"duration_ms":%d.%03d}\n'
)


class AccessLog:
    def __init__(self, stream: TextIO | None = None) -> None:
        """`stream` defaults to `sys.stderr` as it is when lines are flushed (where logging writes)."""
        self._stream = stream
        self._logger = logging.getLogger(LOGGER_NAME)
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._flush_timer: asyncio.TimerHandle | None = None
        self._second = -1
        self._second_text = ""
        self._quoted: dict[str, str] = {}
        self._fixed: dict[tuple[str, str, int], tuple[str, str]] = {}

    def record(self, *, method: str, route: str, status: int, seconds: float) -> None:
        if not self._logger.isEnabledFor(logging.INFO):
            return
        fixed = self._fixed.get((method, route, status)) or self._fixed_fields(method, route, status)
        context = logs.current_request()
        request = ""
        if context is not None:
            # Request ids are sane tokens (gateway.edge.request_id): no escaping needed.
            request = ',"request_id":"' + context.request_id + '"'
            if context.tenant is not None:
                request += ',"tenant":' + self._quote(context.tenant)
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        # %-formatting of ints: f-strings with format specs and float rounding cost several times more.
        micros = round(seconds * 1_000_000)
        line = _LINE % (
            self._second_text,
            int((now - second) * 1000),
            fixed[0],
            request,
            fixed[1],
            micros // 1000,
            micros % 1000,
        )
        if self._pending_bytes + len(line) > FLUSH_BYTES:
            self.flush()
        self._pending.append(line)
        self._pending_bytes += len(line)
        if self._flush_timer is None:
            try:
                self._flush_timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self.flush)
            except RuntimeError:  # no event loop: nothing to batch with
                self.flush()

    def flush(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if not self._pending:
            return
        lines, self._pending, self._pending_bytes = "".join(self._pending), [], 0
        stream = self._stream or sys.stderr
        try:
            stream.write(lines)
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not fail requests
            pass

    def _fixed_fields(self, method: str, route: str, status: int) -> tuple[str, str]:
        """The message, and the route, method and status fields, of every line of this kind."""
        fields = (
            json.dumps(f"{method} {route} {status}", ensure_ascii=False),
            f'"route":{self._quote(route)},"method":{self._quote(method)},"status":{status}',
        )
        if method in STANDARD_METHODS and len(self._fixed) < _QUOTED_MAX:
            self._fixed[(method, route, status)] = fields
        return fields

    def _quote(self, value: str) -> str:
        quoted = self._quoted.get(value)
        if quoted is None:
            quoted = json.dumps(value, ensure_ascii=False)
            if len(self._quoted) < _QUOTED_MAX:
                self._quoted[value] = quoted
        return quoted
