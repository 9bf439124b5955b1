"""The job and batch streams over SSE: the API's (JSON data) and the pages' live streams (HTML fragments).

These Django views answer the stream URLs for anything that goes through Django; under an ASGI server
the same URLs are served by the lean path (jobs.live.routes), which shares every step with them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase

from jobs.core import selectors
from jobs.core.events import bulk_group, job_group, user_group
from jobs.web.pages import live_fragments
from progress.sse import (
    PING_FRAME,
    Encoder,
    cached,
    frame,
    request_user,
    serve_live,
    serve_stream,
    sse_frame,
    unauthorized,
)
from progress.streams import Item, follow_group

# The pages' live streams: the same events, rendered once per process into the pages' partials.


def html_frames(view: str) -> Encoder:
    def encode(item: Item) -> bytes:
        if item.type == "ping":
            return PING_FRAME
        return cached(item, ("html", view), lambda: frame(item, _fragment(view, item)))

    return encode


def _fragment(view: str, item: Item) -> str:
    return " ".join(live_fragments(view=view, event=item.type, data=item.data).split())


Find = Callable[[Any, str], Any]


def _stream_view(find: Find, group: Callable[[Any], str], *, page: str | None = None) -> Callable[..., Any]:
    """A view streaming one job's or batch's events: JSON for the API (session or token), or the
    rendered fragments of `page` (session only)."""

    async def view(request: HttpRequest, object_id: str) -> HttpResponseBase:
        return await serve_stream(
            request,
            user=await request_user(request, token=page is None),
            find=lambda user: find(user, object_id),
            group=group,
            encode=sse_frame if page is None else html_frames(page),
        )

    return view


def _job(user: Any, job_id: str) -> Any:
    return selectors.job_for_user(user=user, job_id=job_id)


def _bulk(user: Any, bulk_id: str) -> Any:
    return selectors.bulk_for_user(user=user, bulk_id=bulk_id)


job_progress = _stream_view(_job, job_group)
bulk_progress = _stream_view(_bulk, bulk_group)
job_live = _stream_view(_job, job_group, page="job")
bulk_live = _stream_view(_bulk, bulk_group, page="bulk")


async def dashboard_live(request: HttpRequest) -> HttpResponseBase:
    user = await request_user(request, token=False)
    if user is None:
        return unauthorized()
    return await serve_live(user, follow_group(group=user_group(user.pk)), html_frames("dashboard"))
