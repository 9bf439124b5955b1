"""The streams as Django views, for anything that goes through Django (the test client, a WSGI server);
under an ASGI server the same URLs (jobs.live.routes) are served by the lean path, which shares every step
with them (progress.sse). And the pages' encoding: each event rendered once per process into the pages'
partials."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET

from jobs.web.fragments import live_fragments
from progress.sse import (
    PING_FRAME,
    Encoder,
    cached,
    frame,
    one_line,
    request_recheck,
    request_user,
    serve_live,
    serve_stream,
    unauthorized,
)
from progress.streams import Item, follow_group


def html_frames(view: str) -> Encoder:
    def encode(item: Item) -> bytes:
        if item.type == "ping":
            return PING_FRAME
        return cached(item, ("html", view), lambda: frame(item, _fragment(view, item)))

    return encode


def _fragment(view: str, item: Item) -> str:
    return one_line(live_fragments(view=view, event=item.type, data=item.data))


def stream_view(
    find: Callable[[Any, str], Any], group: Callable[[Any], str], encode: Encoder, *, token: bool
) -> Callable[..., Any]:
    """A view streaming the event log of the object `find(user, object_id)` gives (None: 404)."""

    @require_GET  # the lean path serves GET alone; any other method is a 405 here too
    async def view(request: HttpRequest, object_id: str) -> HttpResponseBase:
        return await serve_stream(
            request,
            user=await request_user(request, token=token),
            find=lambda user: find(user, object_id),
            group=group,
            encode=encode,
            token=token,
        )

    return view


def live_view(group: Callable[[Any], str], encode: Encoder) -> Callable[..., Any]:
    """A view following the signed-in user's own group from now on (session only)."""

    @require_GET
    async def view(request: HttpRequest) -> HttpResponseBase:
        user = await request_user(request, token=False)
        if user is None:
            return unauthorized()
        recheck = request_recheck(request, user, token=False)
        return await serve_live(user, follow_group(group=group(user.pk)), encode, recheck=recheck)

    return view
