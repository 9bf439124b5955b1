"""A request id for every request (from `X-Request-ID` when it is sane, else new), bound to the log
context for everything the request logs, echoed in the response, and one log line per request."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from contentgen import logs
from contentgen.middleware import SyncAndAsyncMiddleware

logger = logging.getLogger("contentgen.request")

HEADER = "X-Request-ID"
_SANE = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
# Probes and scrapes arrive every few seconds; their lines would drown the rest.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def request_id(request: HttpRequest) -> str:
    return sane_request_id(request.headers.get(HEADER, ""))


def sane_request_id(given: str) -> str:
    """The client's request id when it is sane, else a new one (also for the lean stream path)."""
    return given if _SANE.match(given) else uuid.uuid4().hex


def log_request(
    *, method: str, path: str, status: int, started: float, user: Any = None, streaming: bool = False
) -> None:
    """The one log line of a request (the caller binds its request id)."""
    level = logging.DEBUG if path in QUIET_PATHS else logging.INFO
    logger.log(
        level,
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "method": method,
            "path": path,
            "status": status,
            # For a stream this is the time to its first byte: the stream itself runs on.
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
            "user_id": str(user.pk)
            if user is not None and getattr(user, "is_authenticated", False)
            else None,
            "streaming": streaming,
        },
    )


class RequestLogMiddleware(SyncAndAsyncMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self._acall(request)
        rid = request_id(request)
        with logs.bind(request_id=rid):
            started = time.monotonic()
            response = self.get_response(request)
            return self._done(request, response, rid, started)

    async def _acall(self, request: HttpRequest) -> Any:
        rid = request_id(request)
        with logs.bind(request_id=rid):
            started = time.monotonic()
            response = await self.get_response(request)
            return self._done(request, response, rid, started)

    def _done(
        self, request: HttpRequest, response: HttpResponseBase, rid: str, started: float
    ) -> HttpResponseBase:
        response[HEADER] = rid
        # Only a user the request already loaded: evaluating the lazy `request.user` here would query
        # the database, which an async view (a stream) must not do on the event loop.
        user = getattr(request, "_acached_user", None) or getattr(request, "_cached_user", None)
        log_request(
            method=str(request.method),
            path=request.path,
            status=response.status_code,
            started=started,
            user=user,
            streaming=bool(getattr(response, "streaming", False)),
        )
        return response
