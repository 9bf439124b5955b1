"""The ASGI edge: what every connection passes before the apps see it (contentgen.asgi composes it), and the
security headers that answers made here, and on the lean stream path, carry like Django's.

- TrustedProxies: whose X-Forwarded-For and X-Forwarded-Proto count (CONTENTGEN_TRUSTED_PROXIES). The same
  rule under every server, so uvicorn is started with its own rule off (contentgen.embedded).
- BodyLimit: 413 as soon as a request body passes the limit, by its Content-Length or by the chunks that
  arrived: Django's ASGI handler reads a whole body (to a temporary file) before any middleware sees it.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from csp.utils import build_policy
from django.conf import settings

from contentgen import logs
from contentgen.requestlog import HEADER, log_request, sane_request_id

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

logger = logging.getLogger("contentgen.edge")

# Headers that say where a request came from: believed from a trusted proxy, dropped from anyone else.
FORWARDED = frozenset(
    {
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"x-forwarded-port",
        b"x-real-ip",
        b"forwarded",
    }
)


class TrustedProxies:
    """A connection from a trusted proxy takes its client address from X-Forwarded-For (the right-most
    address that is not itself a trusted proxy: the left part of the chain is whatever the client sent) and
    its scheme from X-Forwarded-Proto; any other connection has its forwarded headers removed, so nothing
    downstream (Django's SECURE_PROXY_SSL_HEADER, django-axes, the logs) can be fooled by them."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        # Checked at startup (contentgen.env).
        self.networks = [ipaddress.ip_network(entry, strict=False) for entry in trusted]

    def trusts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.strip().strip("[]"))
        except ValueError:
            return False
        return any(address in net for net in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = self.resolve(scope)
        await self.app(scope, receive, send)

    def resolve(self, scope: Scope) -> Scope:
        client = scope.get("client")
        headers = list(scope.get("headers") or [])
        if not client or not self.trusts(str(client[0])):
            kept = [(name, value) for name, value in headers if name.lower() not in FORWARDED]
            return scope if len(kept) == len(headers) else {**scope, "headers": kept}
        values: dict[bytes, list[str]] = {name: [] for name in (b"x-forwarded-for", b"x-forwarded-proto")}
        for name, value in headers:
            if name.lower() in values:
                values[name.lower()].append(value.decode("latin-1"))
        resolved = dict(scope)
        hops = [hop.strip() for hop in ",".join(values[b"x-forwarded-for"]).split(",") if hop.strip()]
        address = str(client[0])
        for hop in reversed(hops):
            if not self._is_address(hop):
                break
            address = hop
            if not self.trusts(hop):
                break
        if address != str(client[0]):
            resolved["client"] = (address, 0)
        protos = [p.strip().lower() for p in ",".join(values[b"x-forwarded-proto"]).split(",") if p.strip()]
        if protos and protos[-1] in ("http", "https"):
            secure = protos[-1] == "https"
            resolved["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else protos[-1]
            # One value, the one that counted, for SECURE_PROXY_SSL_HEADER (which reads the first).
            resolved["headers"] = [
                *[(n, v) for n, v in headers if n.lower() != b"x-forwarded-proto"],
                (b"x-forwarded-proto", protos[-1].encode()),
            ]
        return resolved

    @staticmethod
    def _is_address(text: str) -> bool:
        try:
            ipaddress.ip_address(text.strip("[]"))
        except ValueError:
            return False
        return True


def security_headers() -> dict[str, str]:
    """What Django's SecurityMiddleware, XFrameOptionsMiddleware and CSPMiddleware add to every response
    (HSTS, for HTTPS requests only, is added per request: `hsts`)."""
    headers = {}
    policy = build_policy()
    if policy:
        headers["Content-Security-Policy"] = policy
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers["X-Content-Type-Options"] = "nosniff"
    if settings.SECURE_REFERRER_POLICY:
        headers["Referrer-Policy"] = str(settings.SECURE_REFERRER_POLICY)
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers["Cross-Origin-Opener-Policy"] = str(settings.SECURE_CROSS_ORIGIN_OPENER_POLICY)
    headers["X-Frame-Options"] = str(getattr(settings, "X_FRAME_OPTIONS", "DENY"))
    return headers


def is_https(scope: Scope) -> bool:
    """The scheme TrustedProxies settled (a trusted proxy's X-Forwarded-Proto, else the connection's)."""
    return scope.get("scheme") in ("https", "wss")


def hsts(scope: Scope) -> list[tuple[bytes, bytes]]:
    """Strict-Transport-Security on an HTTPS request, as SecurityMiddleware sends it."""
    seconds = int(settings.SECURE_HSTS_SECONDS or 0)
    if not seconds or not is_https(scope):
        return []
    value = f"max-age={seconds}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return [(b"strict-transport-security", value.encode())]


class BodyLimit:
    """413, and no more reading, once a body passes `limit` bytes (DATA_UPLOAD_MAX_MEMORY_SIZE: the contract's
    32 MiB): at once for a Content-Length over it, else when the chunks received add up over it. The app
    then reads a disconnect (Django drops the request) and the answer is made here."""

    def __init__(self, app: ASGIApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit if self.limit is not None else settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = next((v for k, v in scope.get("headers") or [] if k.lower() == b"content-length"), b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        received, over, started = 0, False, False

        async def limited() -> Message:
            nonlocal received, over
            if over:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    return {"type": "http.disconnect"}
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited, watched)
        if over and not started:
            await self._refuse(scope, send, limit)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        started = time.monotonic()
        given = next((v for k, v in scope.get("headers") or [] if k.lower() == HEADER.lower().encode()), b"")
        rid = sane_request_id(given.decode("latin-1"))
        body = f'{{"detail": "The request body is larger than {limit // (1024 * 1024)} MiB."}}'.encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (HEADER.lower().encode(), rid.encode()),
            *[(k.lower().encode(), v.encode("latin-1")) for k, v in security_headers().items()],
            *hsts(scope),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        with logs.bind(request_id=rid):
            log_request(
                method=scope.get("method", ""), path=scope.get("path", ""), status=413, started=started
            )
