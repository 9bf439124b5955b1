"""Server-Sent Events framing, and the steps every progress stream takes before its first byte.

Each connection is a coroutine reading its bounded buffer in the process's hub (progress.hub), never
the database, except to start, to replay, or to catch up (progress.streams). The streams themselves
are served by the lean ASGI path (progress.asgi); the Django views here answer the same URLs for
anything that goes through Django instead (the test client, a WSGI server).
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase

from contentgen.metrics import STREAMS_OPEN
from progress import stream_limits
from progress.auth import stream_user, token_key, viewer_status
from progress.jsonenc import dumps
from progress.streams import PING_INTERVAL, Item, Stream, open_stream, parse_last_event_id

RETRY_MS = 3000
RETRY_FRAME = f"retry: {RETRY_MS}\n\n".encode()
PING_FRAME = b": ping\n\n"
NOT_FOUND = {"detail": "Not found."}
UNAUTHORIZED = {"detail": "Authentication credentials were not provided."}
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

Encoder = Callable[[Item], bytes]
T = TypeVar("T")

# The event-stream grammar ends lines at CR LF, LF and CR only. str.splitlines() and str.split() also break at
# U+2028, U+2029, U+0085 and more, which orjson leaves raw in JSON strings: a client would rebuild `data`
# with a newline inside a string.
LINE_END = re.compile(r"\r\n|\r|\n")
ASCII_SPACE = re.compile(r"[ \t\n\r\f\v]+")


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
    lines.extend(f"data: {line}" for line in LINE_END.split(payload))
    return ("\n".join(lines) + "\n\n").encode()


def one_line(html: str) -> str:
    """A fragment on one line, its runs of ASCII whitespace made one space (other spaces are text)."""
    return ASCII_SPACE.sub(" ", html).strip()


def sse_frame(item: Item, data: str | None = None) -> bytes:
    if item.type == "ping":
        return PING_FRAME
    if data is not None:
        return frame(item, data)
    return cached(item, "sse", lambda: frame(item, dumps(item.data)))


# Credentials, checked again while a stream is open ----------------------------------------------------

Check = Callable[[], Awaitable[int]]


@dataclass
class Recheck:
    """Asks `check` again at every ping, and at least every `every` seconds while events flow, whether the
    viewer may still watch (0) or not (401, 403), and ends the stream at the first refusal, kept in `status`:
    a stream opened before a logout, a deleted token, a deactivation or a loss of staff ends within a ping
    interval of it."""

    check: Check
    every: float = PING_INTERVAL
    status: int = 0

    async def passing(self, items: AsyncIterator[Item]) -> AsyncIterator[Item]:
        due = time.monotonic() + self.every
        try:
            async for item in items:
                if item.type == "ping" or time.monotonic() >= due:
                    self.status = await self.check()
                    if self.status:
                        return
                    due = time.monotonic() + self.every
                yield item
        finally:
            aclose = getattr(items, "aclose", None)
            if aclose is not None:
                await aclose()


def checking(user: Any, *, session_key: str, token: str, staff: bool = False) -> Recheck:
    async def check() -> int:
        return await viewer_status(user, session_key=session_key, token=token, staff=staff)

    return Recheck(check)


def request_recheck(request: HttpRequest, user: Any, *, token: bool = True, staff: bool = False) -> Recheck:
    """The Django side's Recheck: the request's session, else (when `token`) its Authorization token."""
    session = getattr(request, "session", None)
    return checking(
        user,
        session_key=(session.session_key or "") if session is not None else "",
        token=token_key(request.headers.get("Authorization", "")) if token else "",
        staff=staff,
    )


# Opening: the same answers on every path -----------------------------------------------------------


@dataclass
class Refusal:
    """A stream that does not start: 401, 404, 400, 429, or 204 (resumed at or after the final event,
    which tells EventSource not to reconnect)."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Opened:
    stream: Stream | None  # None: a live-only group stream (the dashboard), see progress.streams.follow_group
    slot: stream_limits.StreamSlot


def unauthorized_refusal() -> Refusal:
    return Refusal(401, UNAUTHORIZED, {"WWW-Authenticate": "Token"})


async def acquire_slot(user: Any) -> stream_limits.StreamSlot | Refusal:
    try:
        return await stream_limits.acquire(user)
    except stream_limits.TooManyStreams as exc:
        return Refusal(429, {"detail": exc.message}, {"Retry-After": str(stream_limits.RETRY_AFTER)})


async def start(
    *, user: Any, stream_id: Any, group: str, last_header: str | None, last_query: str | None
) -> Opened | Refusal:
    """401 without a user, 404 without the object (`stream_id` None: missing or someone else's), 400 for a
    bad Last-Event-ID, 429 over a stream cap, 204 when resuming at or after the final event."""
    if user is None:
        return unauthorized_refusal()
    if stream_id is None:
        return Refusal(404, NOT_FOUND)
    last, error = parse_last_event_id(last_header, last_query)
    if error:
        return Refusal(400, {"last_event_id": [error]})
    slot = await acquire_slot(user)
    if isinstance(slot, Refusal):
        return slot
    try:
        stream = await open_stream(stream_id=stream_id, group=group, last_event_id=last)
    except BaseException:
        slot.release()
        raise
    if stream is None:
        slot.release()
        return Refusal(204)
    return Opened(stream, slot)


# Through Django ------------------------------------------------------------------------------------


async def request_user(request: HttpRequest, *, token: bool = True) -> Any:
    """The session's user, else (when `token`) the user of `Authorization: Token <key>`, else None."""
    return await stream_user(
        session_user=await request.auser(),
        authorization=request.headers.get("Authorization", "") if token else "",
    )


def refusal_response(refusal: Refusal) -> HttpResponseBase:
    response: HttpResponseBase = (
        JsonResponse(refusal.body, status=refusal.status)
        if refusal.body is not None
        else HttpResponse(status=refusal.status)
    )
    for name, value in refusal.headers.items():
        response[name] = value
    return response


def unauthorized() -> HttpResponseBase:
    return refusal_response(unauthorized_refusal())


async def _frames(items: AsyncIterator[Item], encode: Encoder) -> AsyncIterator[bytes]:
    STREAMS_OPEN.labels("sse").inc()
    try:
        yield RETRY_FRAME
        async for item in items:
            yield encode(item)
    finally:
        STREAMS_OPEN.labels("sse").dec()


def stream_response(items: AsyncIterator[Item], encode: Encoder = sse_frame) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_frames(items, encode), content_type="text/event-stream")
    for name, value in STREAM_HEADERS.items():
        response[name] = value
    return response


async def serve_live(
    user: Any, items: AsyncIterator[Item], encode: Encoder = sse_frame, *, recheck: Recheck
) -> HttpResponseBase:
    """A live-only stream (`items` follow a group from now on: a dashboard, /ops/) for a known `user`,
    holding one of the user's stream slots, or 429 when a stream cap is reached; it ends when `recheck`
    refuses."""
    slot = await acquire_slot(user)
    if isinstance(slot, Refusal):
        return refusal_response(slot)
    return stream_response(recheck.passing(stream_limits.held(items, slot)), encode)


async def serve_stream(
    request: HttpRequest,
    *,
    user: Any,
    find: Callable[[Any], Any],
    group: Callable[[Any], str],
    encode: Encoder = sse_frame,
    token: bool = True,
) -> HttpResponseBase:
    """`start`'s answers: the stream is the event log of `find(user)` (by pk), pushed through `group(pk)`."""
    obj = await sync_to_async(find, thread_sensitive=False)(user) if user is not None else None
    pk = obj.pk if obj is not None else None
    opened = await start(
        user=user,
        stream_id=pk,
        group=group(pk),
        last_header=request.headers.get("Last-Event-ID"),
        last_query=request.GET.get("last_event_id"),
    )
    if isinstance(opened, Refusal):
        return refusal_response(opened)
    assert opened.stream is not None
    recheck = request_recheck(request, user, token=token)
    return stream_response(recheck.passing(stream_limits.held(opened.stream.items(), opened.slot)), encode)
