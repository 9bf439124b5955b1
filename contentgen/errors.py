from __future__ import annotations

import math
from typing import Any


class ApplicationError(Exception):
    """An illegal move or bad input, with a message a person can act on.

    `status` is the HTTP status an API answers with; `extra` holds per-field messages.
    """

    def __init__(self, message: str, *, status: int = 400, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra or {}


class RateLimited(ApplicationError):
    """Over a per-user limit: 429, with the seconds to wait for `Retry-After`."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=429)
        self.retry_after = max(1, math.ceil(retry_after))
