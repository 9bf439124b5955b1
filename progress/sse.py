"""Server-Sent Events: the API streams (JSON data) and the pages' live streams (HTML fragments).

Async Django views under daphne: each connection is a coroutine reading its bounded buffer in the
process's hub (progress.hub), never the database, except to start, to replay, or to catch up.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from rest_framework.authentication import TokenAuthentication
from rest_framework.exceptions import AuthenticationFailed

from jobs import selectors
from progress import stream_limits
from progress.publish import bulk_group, job_group, user_group
from progress.streams import Item, follow, follow_group, parse_last_event_id, resume_is_finished

RETRY_MS = 3000
NOT_FOUND = {"detail": "Not found."}


async def authenticate(request: HttpRequest) -> Any:
    """The session's user, else a DRF token's (`Authorization: Token <key>`), else None."""
    user = await request.auser()
    if user.is_authenticated:
        return user
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() == "token" and key.strip():
        try:
            user, _token = await sync_to_async(
                TokenAuthentication().authenticate_credentials, thread_sensitive=False
            )(key.strip())
        except AuthenticationFailed:
            return None
        return user
    return None


def _unauthorized() -> JsonResponse:
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


async def _frames(items: AsyncIterator[Item], encode: Callable[[Item], bytes]) -> AsyncIterator[bytes]:
    yield f"retry: {RETRY_MS}\n\n".encode()
    async for item in items:
        yield encode(item)


def _too_many(exc: stream_limits.TooManyStreams) -> JsonResponse:
    response = JsonResponse({"detail": exc.message}, status=429)
    response["Retry-After"] = str(stream_limits.RETRY_AFTER)
    return response


async def _stream_response(
    user: Any, items: AsyncIterator[Item], encode: Callable[[Item], bytes] = sse_frame
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


async def _serve(
    request: HttpRequest,
    *,
    user: Any,
    find: Callable[[Any], Any],
    group: Callable[[Any], str],
    encode: Callable[[Item], bytes] = sse_frame,
) -> HttpResponseBase:
    """401 without a user, 404 unless `find(user)` gives the job or batch, 400 for a bad Last-Event-ID,
    204 (which tells EventSource not to reconnect) when resuming at or after the final event."""
    if user is None:
        return _unauthorized()
    obj = await sync_to_async(find, thread_sensitive=False)(user)
    if obj is None:
        return JsonResponse(NOT_FOUND, status=404)
    last, error = parse_last_event_id(request.headers.get("Last-Event-ID"), request.GET.get("last_event_id"))
    if error:
        return JsonResponse({"last_event_id": [error]}, status=400)
    if await resume_is_finished(obj.pk, last):
        return HttpResponse(status=204)
    items = follow(stream_id=obj.pk, group=group(obj.pk), last_event_id=last)
    return await _stream_response(user, items, encode)


async def job_progress(request: HttpRequest, job_id: str) -> HttpResponseBase:
    return await _serve(
        request,
        user=await authenticate(request),
        find=lambda user: selectors.job_for_user(user=user, job_id=job_id),
        group=job_group,
    )


async def bulk_progress(request: HttpRequest, bulk_id: str) -> HttpResponseBase:
    return await _serve(
        request,
        user=await authenticate(request),
        find=lambda user: selectors.bulk_for_user(user=user, bulk_id=bulk_id),
        group=bulk_group,
    )


# The pages' live streams: the same events, rendered once per process into the pages' partials.

_RENDERED: OrderedDict[tuple[str, str | None, int | None, str], str] = OrderedDict()
_RENDERED_MAX = 2048


def _fragment(view: str, item: Item) -> str:
    from progress.pages import live_fragments

    key = (view, item.stream_id, item.seq, item.type)
    html = _RENDERED.get(key) if item.seq is not None else None
    if html is None:
        html = " ".join(live_fragments(view=view, event=item.type, data=item.data).split())
        if item.seq is not None:
            _RENDERED[key] = html
            if len(_RENDERED) > _RENDERED_MAX:
                _RENDERED.popitem(last=False)
    return html


def _html_frames(view: str) -> Callable[[Item], bytes]:
    def encode(item: Item) -> bytes:
        return sse_frame(item, None if item.type == "ping" else _fragment(view, item))

    return encode


async def _session_user(request: HttpRequest) -> Any:
    user = await request.auser()
    return user if user.is_authenticated else None


async def job_live(request: HttpRequest, job_id: str) -> HttpResponseBase:
    return await _serve(
        request,
        user=await _session_user(request),
        find=lambda user: selectors.job_for_user(user=user, job_id=job_id),
        group=job_group,
        encode=_html_frames("job"),
    )


async def bulk_live(request: HttpRequest, bulk_id: str) -> HttpResponseBase:
    return await _serve(
        request,
        user=await _session_user(request),
        find=lambda user: selectors.bulk_for_user(user=user, bulk_id=bulk_id),
        group=bulk_group,
        encode=_html_frames("bulk"),
    )


async def dashboard_live(request: HttpRequest) -> HttpResponseBase:
    user = await _session_user(request)
    if user is None:
        return _unauthorized()
    return await _stream_response(user, follow_group(group=user_group(user.pk)), _html_frames("dashboard"))
