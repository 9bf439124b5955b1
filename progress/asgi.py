"""The lean ASGI path for progress streams, in front of Django.

Django's request stack cost the fan-out benchmark most of its time: a request object, the middleware
chain, session and token authentication and an ownership read through the thread pool for every stream
opened, then every chunk through `StreamingHttpResponse` and its async generators. Here a stream is
one coroutine on the ASGI connection: credentials are one cached lookup (progress.auth), ownership one
cached indexed read (the route's `locate`), and every event arrives as a frame the hub's process made
once for all viewers. The answers are Django's, byte for byte where a client looks: the same JSON
bodies and statuses (401, 404, 400, 429, 204), the same SSE framing, the same stream headers.

Anything that is not a stream route goes to Django unchanged.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from contentgen import logs
from contentgen.edge import hsts, is_https, security_headers
from contentgen.metrics import STREAMS_OPEN
from contentgen.requestlog import HEADER, log_request, sane_request_id
from progress import stream_limits
from progress.auth import credentials_user, session_key_from, token_key
from progress.jsonenc import dumps
from progress.security import host_allowed
from progress.sse import (
    RETRY_FRAME,
    STREAM_HEADERS,
    Encoder,
    Refusal,
    acquire_slot,
    checking,
    start,
    unauthorized_refusal,
)
from progress.streams import Item, follow_group

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class SseRoute:
    """One stream URL. `locate(user, params)` gives the stream id the user may read, or None (404);
    `group(user, stream_id)` names its channel-layer group. `live_only` streams (a user's dashboard) have
    no id, no log and no resume: they follow the group from now on."""

    pattern: re.Pattern[str]
    locate: Callable[[Any, dict[str, str]], Awaitable[Any]]
    group: Callable[[Any, Any], str]
    encode: Encoder
    token: bool = True
    live_only: bool = False


def _header_list(extra: dict[str, str]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in extra.items()]


class StreamRouter:
    """ASGI app: the stream routes here, everything else to `fallback` (Django)."""

    def __init__(self, routes: list[SseRoute], fallback: ASGIApp) -> None:
        self.routes = routes
        self.fallback = fallback
        self._stream_headers = [
            (b"content-type", b"text/event-stream"),
            *_header_list({**STREAM_HEADERS, **security_headers()}),
        ]
        self._json_headers = [(b"content-type", b"application/json"), *_header_list(security_headers())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not self._redirects_to_https(scope):
            for route in self.routes:
                match = route.pattern.fullmatch(scope["path"])
                if match is not None:
                    await self._serve(route, match.groupdict(), scope, receive, send)
                    return
        await self.fallback(scope, receive, send)

    @staticmethod
    def _redirects_to_https(scope: Scope) -> bool:
        """Django answers plain-HTTP requests when DJANGO_SECURE=1 wants them redirected."""
        return bool(settings.SECURE_SSL_REDIRECT) and not is_https(scope)

    async def _serve(
        self, route: SseRoute, params: dict[str, str], scope: Scope, receive: Receive, send: Send
    ) -> None:
        """The request id (echoed, bound to the log context), HSTS and the request's log line, as Django's
        middlewares give them, around `_answer_stream`."""
        started = time.monotonic()
        headers = {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
        rid = sane_request_id(headers.get(HEADER.lower(), ""))
        extra = [(HEADER.lower().encode(), rid.encode("latin-1")), *hsts(scope)]
        seen: dict[str, Any] = {}

        async def answer(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], *extra]}
                status = int(message["status"])
                log_request(
                    method="GET", path=scope["path"], status=status, started=started,
                    user=seen.get("user"), streaming=status == 200,
                )  # fmt: skip
            await send(message)

        with logs.bind(request_id=rid):
            await self._answer_stream(route, params, headers, seen, scope, receive, answer)

    async def _answer_stream(
        self,
        route: SseRoute,
        params: dict[str, str],
        headers: dict[str, str],
        seen: dict[str, Any],
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        if not host_allowed(headers.get("host", "")):
            await self._answer(send, Refusal(400, {"detail": "Bad Request (invalid Host header)."}))
            return
        token = token_key(headers.get("authorization", "")) if route.token else ""
        user = await credentials_user(cookie=headers.get("cookie", ""), token=token)
        seen["user"] = user
        items: AsyncIterator[Item]
        if route.live_only:
            if user is None:
                await self._answer(send, unauthorized_refusal())
                return
            slot = await acquire_slot(user)
            if isinstance(slot, Refusal):
                await self._answer(send, slot)
                return
            items = stream_limits.held(follow_group(group=route.group(user, None)), slot)
            cleanup = _releasing(slot)
        else:
            stream_id = await route.locate(user, params) if user is not None else None
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            opened = await start(
                user=user,
                stream_id=stream_id,
                group=route.group(user, stream_id) if stream_id is not None else "",
                last_header=headers.get("last-event-id"),
                last_query=(query.get("last_event_id") or [None])[0],
            )
            if isinstance(opened, Refusal):
                await self._answer(send, opened)
                return
            assert opened.stream is not None
            items = stream_limits.held(opened.stream.items(), opened.slot)
            cleanup = _releasing(opened.slot, opened.stream.close)
        recheck = checking(user, session_key=session_key_from(headers.get("cookie", "")), token=token)
        await self._stream(recheck.passing(items), route.encode, receive, send, cleanup)

    async def _answer(self, send: Send, refusal: Refusal) -> None:
        body = dumps(refusal.body).encode() if refusal.body is not None else b""
        headers = self._json_headers if refusal.body is not None else self._json_headers[1:]
        await send(
            {
                "type": "http.response.start",
                "status": refusal.status,
                "headers": [
                    *headers,
                    *_header_list(refusal.headers),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def _stream(
        self,
        items: AsyncIterator[Item],
        encode: Encoder,
        receive: Receive,
        send: Send,
        cleanup: Callable[[], Awaitable[None]],
    ) -> None:
        """Send frames until the stream ends, or stop when the client hangs up (watched by one small task).
        `cleanup` frees the slot and the subscription even when the client left before the first frame."""
        me = asyncio.current_task()
        assert me is not None
        gone = False

        async def watch() -> None:
            nonlocal gone
            while (await receive())["type"] != "http.disconnect":
                pass
            gone = True
            me.cancel()

        watcher = asyncio.create_task(watch())
        STREAMS_OPEN.labels("sse").inc()
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self._stream_headers})
            await send({"type": "http.response.body", "body": RETRY_FRAME, "more_body": True})
            async for item in items:
                await send({"type": "http.response.body", "body": encode(item), "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            me.uncancel()
        except OSError:
            pass  # the connection broke under a send: the client is gone
        finally:
            STREAMS_OPEN.labels("sse").dec()
            watcher.cancel()
            await cleanup()


def _releasing(
    slot: stream_limits.StreamSlot, close: Callable[[], Awaitable[None]] | None = None
) -> Callable[[], Awaitable[None]]:
    async def cleanup() -> None:
        slot.release()
        if close is not None:
            await close()

    return cleanup
