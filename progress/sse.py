"""Server-Sent Events framing and the streaming response every stream view returns.

Each connection is a coroutine reading its bounded buffer in the process's hub (progress.hub), never
the database, except to start, to replay, or to catch up (progress.streams).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from progress.auth import stream_user
from progress.jsonenc import dumps
from progress.streams import Item, follow, parse_last_event_id

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


PING_FRAME = b": ping\n\n"
T = TypeVar("T")


def cached(item: Item, key: Any, make: Callable[[], T]) -> T:
    """What `make` builds from `item`, built once per process for every stream sending that event."""
    if item.cache is None:
        return make()
    value = item.cache.get(key)
    if value is None:
        value = item.cache[key] = make()
    return cast(T, value)


def frame(item: Item, payload: str) -> bytes:
    lines = [f"id: {item.seq}"] if item.seq is not None else []
    lines.append(f"event: {item.type}")
    lines.extend(f"data: {line}" for line in payload.splitlines() or [""])
    return ("\n".join(lines) + "\n\n").encode()


def sse_frame(item: Item, data: str | None = None) -> bytes:
    if item.type == "ping":
        return PING_FRAME
    if data is not None:
        return frame(item, data)
    return cached(item, "sse", lambda: frame(item, dumps(item.data)))


async def _frames(items: AsyncIterator[Item], encode: Encoder) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    async for item in items:
        yield encode(item)


def stream_response(items: AsyncIterator[Item], encode: Encoder = sse_frame) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_frames(items, encode), content_type="text/event-stream")
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
    """401 without a user, 404 unless `find(user)` gives the streamed object, 400 for a bad Last-Event-ID.

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
    return stream_response(follow(stream_id=obj.pk, group=group(obj.pk), last_event_id=last), encode)
