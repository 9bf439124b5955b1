"""`/sources/...` (the page's live stream is in jobs.live.routes)."""

from __future__ import annotations

from django.urls import path

from jobs.sources import pages

urlpatterns = [
    path("", pages.sources_page, name="sources"),
    path("<str:source_id>/delete", pages.source_delete, name="source-delete"),
]
