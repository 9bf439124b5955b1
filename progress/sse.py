"""Server-Sent Events framing and the streaming response every stream view returns.

Each connection is a coroutine reading its bounded buffer in the process's hub (progress.hub), never
the database, except to start, to replay, or to catch up (progress.streams).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from contentgen.metrics import STREAMS_OPEN
from progress import stream_limits
from progress.auth import stream_user
from progress.streams import Item, follow, parse_last_event_id, resume_is_finished

RETRY_MS = 3000
NOT_FOUND = {"detail": "Not found."}

Encoder = Callable[[Item], bytes]


async def request_user(request: HttpRequest, *, token: bool = True) -> Any:
    """The session's user, else (when `token`) the user of `Authorization: Token <key>`, else None."""
    return await stream_user(
        session_user=await request.auser(),
        authorization=request.headers.get("Authorization", "") if token else "",
    )


def unauthorized() -> JsonResponse:
    response = JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
    response["WWW-Authenticate"] = "Token"
    return response


def sse_frame(item: Item, data: str | None = None) -> bytes:
    if item.type == "ping":
        return b": ping\n\n"
    payload = data if data is not None else json.dumps(item.data, separators=(",", ":"))
    lines = [f"id: {item.seq}"] if item.seq is not None else []
    lines.append(f"event: {item.type}")
    lines.extend(f"data: {line}" for line in payload.splitlines() or [""])
    return ("\n".join(lines) + "\n\n").encode()


async def _frames(items: AsyncIterator[Item], encode: Encoder) -> AsyncIterator[bytes]:
    STREAMS_OPEN.labels("sse").inc()
    try:
        yield f"retry: {RETRY_MS}\n\n".encode()
        async for item in items:
            yield encode(item)
    finally:
        STREAMS_OPEN.labels("sse").dec()


def _too_many(exc: stream_limits.TooManyStreams) -> JsonResponse:
    response = JsonResponse({"detail": exc.message}, status=429)
    response["Retry-After"] = str(stream_limits.RETRY_AFTER)
    return response


async def stream_response(
    user: Any, items: AsyncIterator[Item], encode: Encoder = sse_frame
) -> HttpResponseBase:
    """The stream, holding one of the user's stream slots, or 429 when a stream cap is reached."""
    try:
        slot = await stream_limits.acquire(user)
    except stream_limits.TooManyStreams as exc:
        return _too_many(exc)
    held = stream_limits.held(items, slot)
    response = StreamingHttpResponse(_frames(held, encode), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def serve_stream(
    request: HttpRequest,
    *,
    user: Any,
    find: Callable[[Any], Any],
    group: Callable[[Any], str],
    encode: Encoder = sse_frame,
) -> HttpResponseBase:
    """401 without a user, 404 unless `find(user)` gives the streamed object, 400 for a bad Last-Event-ID,
    204 (which tells EventSource not to reconnect) when resuming at or after the final event.

    The stream is the object's event log (keyed by its pk), pushed live through `group(pk)`.
    """
    if user is None:
        return unauthorized()
    obj = await sync_to_async(find, thread_sensitive=False)(user)
    if obj is None:
        return JsonResponse(NOT_FOUND, status=404)
    last, error = parse_last_event_id(request.headers.get("Last-Event-ID"), request.GET.get("last_event_id"))
    if error:
        return JsonResponse({"last_event_id": [error]}, status=400)
    if await resume_is_finished(obj.pk, last):
        return HttpResponse(status=204)
    items = follow(stream_id=obj.pk, group=group(obj.pk), last_event_id=last)
    return await stream_response(user, items, encode)
