"""The job and batch streams over SSE: the API's (JSON data) and the pages' live streams (HTML fragments).

These Django views answer the stream URLs for anything that goes through Django; under an ASGI server
the same URLs are served by the lean path (jobs.live), which shares every step with them.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from jobs import selectors
from jobs.groups import bulk_group, job_group, user_group
from jobs.pages import live_fragments
from progress import stream_limits
from progress.sse import (
    PING_FRAME,
    Refusal,
    acquire_slot,
    cached,
    frame,
    refusal_response,
    request_user,
    serve_stream,
    stream_response,
    unauthorized,
)
from progress.streams import Item, follow_group


async def job_progress(request: HttpRequest, job_id: str) -> HttpResponseBase:
    return await serve_stream(
        request,
        user=await request_user(request),
        find=lambda user: selectors.job_for_user(user=user, job_id=job_id),
        group=job_group,
    )


async def bulk_progress(request: HttpRequest, bulk_id: str) -> HttpResponseBase:
    return await serve_stream(
        request,
        user=await request_user(request),
        find=lambda user: selectors.bulk_for_user(user=user, bulk_id=bulk_id),
        group=bulk_group,
    )


# The pages' live streams: the same events, rendered once per process into the pages' partials.


def html_frames(view: str) -> Callable[[Item], bytes]:
    def encode(item: Item) -> bytes:
        if item.type == "ping":
            return PING_FRAME
        return cached(item, ("html", view), lambda: frame(item, _fragment(view, item)))

    return encode


def _fragment(view: str, item: Item) -> str:
    return " ".join(live_fragments(view=view, event=item.type, data=item.data).split())


async def job_live(request: HttpRequest, job_id: str) -> HttpResponseBase:
    return await serve_stream(
        request,
        user=await request_user(request, token=False),
        find=lambda user: selectors.job_for_user(user=user, job_id=job_id),
        group=job_group,
        encode=html_frames("job"),
    )


async def bulk_live(request: HttpRequest, bulk_id: str) -> HttpResponseBase:
    return await serve_stream(
        request,
        user=await request_user(request, token=False),
        find=lambda user: selectors.bulk_for_user(user=user, bulk_id=bulk_id),
        group=bulk_group,
        encode=html_frames("bulk"),
    )


async def dashboard_live(request: HttpRequest) -> HttpResponseBase:
    user = await request_user(request, token=False)
    if user is None:
        return unauthorized()
    slot = await acquire_slot(user)
    if isinstance(slot, Refusal):
        return refusal_response(slot)
    items = stream_limits.held(follow_group(group=user_group(user.pk)), slot)
    return stream_response(items, html_frames("dashboard"))
