"""Structured logs: one JSON object per line on stderr, each line of a request carrying its id.

`LOG_CONFIG` is handed to uvicorn (`log_config=`), which applies it once per process: in `gateway serve`
and, with `--workers` above 1, in each worker it spawns. The app factory never configures logging, so a
process embedding the app (tests, another server) keeps its own.

What a request is (its id, and its tenant once known) lives on a `RequestContext` held in a
context variable: `gateway.edge.request_id` opens it, handlers add the tenant with `bind_tenant`, and
`JsonFormatter` adds it to every line logged while the request runs. Nothing here reads headers, bodies
or query strings: a log line can only carry what code explicitly puts into it, and no code puts a
token, a secret or a literal of a query there.
"""

from __future__ import annotations

import json
import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final


@dataclass(slots=True)
class RequestContext:
    """One request as its log lines describe it; mutable, so handlers can add what they learn."""

    request_id: str
    tenant: str | None = None


_current: ContextVar[RequestContext | None] = ContextVar("gateway_request", default=None)

# Fields a log call may pass with `extra=`; anything else given that way is left out of the line.
_EXTRA_FIELDS: Final = ("route", "method", "status", "duration_ms")


def begin_request(request_id: str) -> RequestContext:
    """Open the context of a request; every line logged from this task on carries its id.

    uvicorn runs each request in a task of its own, so the context ends with that task.
    """
    context = RequestContext(request_id=request_id)
    _current.set(context)
    return context


def current_request() -> RequestContext | None:
    return _current.get()


def bind_tenant(tenant_id: str) -> None:
    """Name the tenant of the current request: an id the gateway found in its registry or in a verified
    token, never text a caller sent."""
    context = _current.get()
    if context is not None:
        context.tenant = tenant_id


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: timestamp, level, logger, message, and the request's fields."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The lines never show the caller's file and line, thread or process: skip gathering them
        # for every record (the logging module's documented optimisation switches). Set here
        # because this formatter is made in every process that logs JSON, workers included.
        logging._srcfile = None
        logging.logThreads = False
        logging.logProcesses = False
        logging.logMultiprocessing = False

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = _current.get()
        if context is not None:
            entry["request_id"] = context.request_id
            if context.tenant is not None:
                entry["tenant"] = context.tenant
        for name in _EXTRA_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


LOG_CONFIG: Final[dict[str, Any]] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "gateway.telemetry.logs.JsonFormatter"}},
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {
        # uvicorn's own messages go through the root handler, as JSON like every other line.
        "uvicorn": {"handlers": [], "propagate": True},
        "uvicorn.error": {"handlers": [], "propagate": True},
        # Replaced by gateway.edge.access_log (JSON, with the request id and the route template).
        "uvicorn.access": {"handlers": [], "propagate": False},
        # One line per alembic plugin in every process that loads alembic: noise.
        "alembic.runtime.plugins": {"level": "WARNING"},
        # stamina logs each retry it schedules with its cause in `extra`, which the lines leave out; the
        # code that retries logs the failure itself.
        "stamina": {"level": "ERROR"},
    },
}
