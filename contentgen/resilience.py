"""Transient faults (MongoDB or Redis unreachable for a while) told apart from real errors, and retried.

A transient fault is the store being away, not the request being wrong: the same call succeeds once
the server is back. Callers retry those with jittered backoff for a bounded time and then decide
(a worker hands its job back), instead of failing the work they were doing.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import redis
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError, WTimeoutError

logger = logging.getLogger("contentgen.resilience")

T = TypeVar("T")

# Server codes meaning "not now": shutting down, stepping down, interrupted, write conflict.
TRANSIENT_CODES = frozenset({6, 7, 89, 91, 112, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
TRANSIENT_LABELS = ("TransientTransactionError", "RetryableWriteError", "UnknownTransactionCommitResult")


class Unavailable(Exception):
    """The store stayed unreachable for the whole retry budget."""


def is_transient(exc: BaseException) -> bool:
    """True for an outage or a retryable conflict, looking through Django's DatabaseError wrapping."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(
            current, ConnectionFailure | WTimeoutError | redis.ConnectionError | redis.TimeoutError
        ):
            return True
        if isinstance(current, PyMongoError) and any(
            current.has_error_label(label) for label in TRANSIENT_LABELS
        ):
            return True
        if isinstance(current, OperationFailure) and current.code in TRANSIENT_CODES:
            return True
        current = current.__cause__ or current.__context__
    return False


class Backoff:
    """Exponential delays with full jitter, capped: spreads many clients' retries after an outage."""

    def __init__(self, *, base: float = 0.2, cap: float = 5.0) -> None:
        self.base, self.cap, self.failures = base, cap, 0

    def next_delay(self) -> float:
        self.failures += 1
        return random.uniform(self.base, min(self.cap, self.base * 2**self.failures))

    def reset(self) -> None:
        self.failures = 0


def retry(
    call: Callable[[], T],
    *,
    budget: float,
    what: str,
    stop: threading.Event | None = None,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """`call()`, retried on transient faults for up to `budget` seconds; then Unavailable.

    Logs once when the fault starts and once when it ends, not on every attempt. `on_retry` runs
    before each new attempt (for example to reset a broken connection).
    """
    deadline = time.monotonic() + budget
    backoff = Backoff()
    first_failure: float | None = None
    while True:
        try:
            result = call()
        except Exception as exc:
            if not is_transient(exc):
                raise
            now = time.monotonic()
            if first_failure is None:
                first_failure = now
                logger.warning(
                    "%s: store unreachable (%s); retrying for up to %.0f s", what, _short(exc), budget
                )
            if now >= deadline or (stop is not None and stop.is_set()):
                raise Unavailable(f"{what}: store unreachable for {now - first_failure:.0f} s") from exc
            delay = min(backoff.next_delay(), max(0.0, deadline - now))
            if stop is not None:
                stop.wait(delay)
            else:
                time.sleep(delay)
            if on_retry is not None:
                on_retry()
            continue
        if first_failure is not None:
            logger.info("%s: store reachable again after %.1f s", what, time.monotonic() - first_failure)
        return result


def _short(exc: BaseException) -> str:
    while not str(exc) and exc.__cause__ is not None:
        exc = exc.__cause__
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text[:160]}"
