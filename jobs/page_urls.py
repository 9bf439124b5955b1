"""The HTML pages and their live streams."""

from __future__ import annotations

from django.urls import path

from jobs import downloads, pages, sse_views

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("live", sse_views.dashboard_live, name="dashboard-live"),
    path("jobs/new", pages.job_new, name="job-new"),
    path("jobs/<str:job_id>/", pages.job_detail, name="job-detail"),
    path("jobs/<str:object_id>/live", sse_views.job_live, name="job-live"),
    path("jobs/<str:job_id>/article.md", downloads.article_markdown, name="job-markdown"),
    path("bulk/new", pages.bulk_new, name="bulk-new"),
    path("bulk/<str:bulk_id>/", pages.bulk_detail, name="bulk-detail"),
    path("bulk/<str:object_id>/live", sse_views.bulk_live, name="bulk-live"),
]
