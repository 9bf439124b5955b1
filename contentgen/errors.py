"""`ApplicationError`, the one exception services raise for a move a person can correct, and the DRF
exception handler that answers it (and a malformed body) with a 4xx and a message."""

from __future__ import annotations

import math
from typing import Any

from rest_framework import status
from rest_framework.exceptions import ParseError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class ApplicationError(Exception):
    """An illegal move or bad input, with a message a person can act on.

    `status` is the HTTP status an API answers with; `extra` holds per-field messages.
    """

    def __init__(self, message: str, *, status: int = 400, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra or {}


class InvalidInput(ApplicationError):
    """Input that fails validation: 400, as DRF answers a serializer's errors (a message per field)."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__("The input is not valid.", status=400)
        self.errors = errors


class RateLimited(ApplicationError):
    """Over a per-user limit: 429, with the seconds to wait for `Retry-After`."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message, status=429)
        self.retry_after = max(1, math.ceil(retry_after))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, InvalidInput):
        return Response(exc.errors, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ApplicationError):
        body: dict[str, Any] = {"detail": exc.message, **exc.extra}
        response = Response(body, status=exc.status)
        if isinstance(exc, RateLimited):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, ParseError):
        return Response(
            {"detail": f"Malformed request body: {exc.detail}"}, status=status.HTTP_400_BAD_REQUEST
        )
    return drf_exception_handler(exc, context)
