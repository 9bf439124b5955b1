from __future__ import annotations

import ipaddress
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise that stays in async mode under daphne.

    The stock middleware is sync-only, which makes Django run the whole chain, SSE streams included,
    through a sync thread, and a stream's opening waits for a free thread.
    Looking a file up is an in-memory dict read (or a stat in DEBUG), so doing it on the loop is fine.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any = None, settings: Any = None) -> None:
        if settings is None:
            super().__init__(get_response)
        else:
            super().__init__(get_response, settings)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: Any) -> Any:
        if self.async_mode:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: Any) -> Any:
        static_file = (
            self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)
        )
        if static_file is not None:
            return self.serve(static_file, request)
        return await self.get_response(request)


class SyncAndAsyncMiddleware:
    """A middleware that runs on whichever side the request is: async under daphne, so streams never take a
    thread. Subclasses branch on `self.async_mode` in `__call__`."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        raise NotImplementedError


class RequestSizeLimitMiddleware(SyncAndAsyncMiddleware):
    """413 with a message for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, by its Content-Length, before anything
    reads or parses it (Django's own check raises a bare 400, and only when `request.body` is read)."""

    def __call__(self, request: HttpRequest) -> Any:
        refusal = self._refusal(request)
        if self.async_mode:
            return self._acall(request, refusal)
        return refusal or self.get_response(request)

    async def _acall(self, request: HttpRequest, refusal: HttpResponse | None) -> Any:
        return refusal or await self.get_response(request)

    @staticmethod
    def _refusal(request: HttpRequest) -> HttpResponse | None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"detail": "Content-Length must be a whole number."}, status=400)
        if limit is not None and length > limit:
            message = f"The request body is larger than {limit // (1024 * 1024)} MiB."
            return JsonResponse({"detail": message}, status=413)
        return None


FORWARDED_META = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
)


class UntrustedForwardedHeadersMiddleware(SyncAndAsyncMiddleware):
    """Forwarded headers count only from CONTENTGEN_TRUSTED_PROXIES, on every server: contentgen.edge applies
    the rule under ASGI (and turns a trusted proxy's headers into the client's address and scheme, so they
    are dropped here too), this the same under WSGI and the test client."""

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self.networks = [ipaddress.ip_network(e, strict=False) for e in settings.CONTENTGEN_TRUSTED_PROXIES]

    def __call__(self, request: HttpRequest) -> Any:
        if not self._trusted(request.META.get("REMOTE_ADDR", "")):
            for name in FORWARDED_META:
                request.META.pop(name, None)
        return self.get_response(request)

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)
