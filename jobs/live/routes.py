"""The stream routes: ONE table that both the lean ASGI path (progress.asgi, in front of Django) and Django's
URLconfs read, so a stream added here is served the same way under every server and by the test client.

A stream of an object (a job, a batch) is its event log, resumable with Last-Event-ID; a stream without
one (a user's dashboard) is live only. API streams send JSON and accept a session or a token; the pages'
streams send the pages' rendered partials and accept the session only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from django.urls import URLPattern, path

from jobs.core import events, selectors
from jobs.live import views
from jobs.live.owners import owned
from jobs.models import BulkJob, GenerationJob, Source
from progress.asgi import SseRoute
from progress.sse import Encoder, sse_frame


@dataclass(frozen=True)
class Stream:
    """`path` from the site's root with `<id>` for the object's id; `model` None for a live-only stream of
    the user's own group; `page` names the page whose partials the stream renders (None: JSON)."""

    path: str
    name: str
    model: type[Any] | None
    group: Callable[[Any], str]
    page: str | None = None

    @property
    def encode(self) -> Encoder:
        return sse_frame if self.page is None else views.html_frames(self.page)

    @property
    def api(self) -> bool:
        return self.path.startswith("/api/")


STREAMS: tuple[Stream, ...] = (
    Stream("/api/jobs/<id>/progress", "api-job-progress", GenerationJob, events.job_group),
    Stream("/api/bulk-jobs/<id>/progress", "api-bulk-progress", BulkJob, events.bulk_group),
    Stream("/jobs/<id>/live", "job-live", GenerationJob, events.job_group, page="job"),
    Stream("/bulk/<id>/live", "bulk-live", BulkJob, events.bulk_group, page="bulk"),
    Stream("/live", "dashboard-live", None, events.user_group, page="dashboard"),
    Stream("/api/sources/<id>/progress", "api-source-progress", Source, events.source_group),
    Stream("/sources/live", "sources-live", None, events.sources_group, page="sources"),
)


def stream_routes() -> list[SseRoute]:
    """The table for the lean ASGI path."""

    def route(stream: Stream) -> SseRoute:
        model = stream.model

        async def locate(user: Any, params: dict[str, str]) -> ObjectId | None:
            if model is None:
                return None
            return await owned(model, user=user, object_id=params["id"])

        def group(user: Any, pk: Any) -> str:
            return stream.group(user.pk if model is None else pk)

        pattern = re.compile(stream.path.replace("<id>", "(?P<id>[^/]+)"))
        live_only = model is None
        return SseRoute(pattern, locate, group, stream.encode, token=stream.page is None, live_only=live_only)

    return [route(stream) for stream in STREAMS]


def _django_path(stream: Stream, prefix: str) -> URLPattern:
    route = stream.path.removeprefix(prefix).replace("<id>", "<str:object_id>")
    if stream.model is None:
        view = views.live_view(stream.group, stream.encode)
    else:
        model = stream.model

        def find(user: Any, object_id: str) -> Any:
            return selectors.owned(model, user=user, object_id=object_id)

        view = views.stream_view(find, stream.group, stream.encode, token=stream.page is None)
    return path(route, view, name=stream.name)


def api_urlpatterns() -> list[URLPattern]:
    """The API's streams, for the URLconf included under /api/."""
    return [_django_path(stream, "/api/") for stream in STREAMS if stream.api]


def page_urlpatterns() -> list[URLPattern]:
    """The pages' streams, for the URLconf included at the root."""
    return [_django_path(stream, "/") for stream in STREAMS if not stream.api]
