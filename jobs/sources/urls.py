"""`/api/sources/...` (the progress stream's route is in jobs.live.routes)."""

from __future__ import annotations

from django.urls import path

from jobs.sources import apis

urlpatterns = [
    path("", apis.SourceListCreateApi.as_view(), name="api-sources"),
    path("<str:source_id>/", apis.SourceDetailApi.as_view(), name="api-source"),
]
