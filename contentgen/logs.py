"""Structured logs: JSON lines when stdout is not a terminal (collectors, files), readable lines in one.

Fields bound with `bind(...)` (a contextvar, so per thread and per asyncio task) and the process's own
fields (`set_process_fields`, e.g. a worker's id) are added to every line, so one job or one request
can be followed across web and worker processes by its ids.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_context: ContextVar[dict[str, Any] | None] = ContextVar("contentgen_log_context", default=None)
_process: dict[str, Any] = {}

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "context", "taskName"}


@contextlib.contextmanager
def bind(**fields: Any) -> Iterator[None]:
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def current() -> dict[str, Any]:
    return {**_process, **(_context.get() or {})}


def set_process_fields(**fields: Any) -> None:
    _process.update(fields)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = current()
        fields.update(
            {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}
        )
        record.context = fields
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **getattr(record, "context", {}),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class ConsoleFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = getattr(record, "context", {})
        if fields:
            text += "  " + " ".join(f"{k}={v}" for k, v in fields.items())
        return text


def formatter() -> logging.Formatter:
    """Chosen once per process, by whether stdout is a terminal."""
    return ConsoleFormatter() if sys.stdout.isatty() else JsonFormatter()


LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "contentgen.logs.ContextFilter"}},
    "formatters": {"auto": {"()": "contentgen.logs.formatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "auto",
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
