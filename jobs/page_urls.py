"""The HTML pages and their live streams."""

from __future__ import annotations

from django.urls import include, path

from jobs import analytics_views, export_views, history_views, ops, pages, sse_views

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("live", sse_views.dashboard_live, name="dashboard-live"),
    path("jobs/new", pages.job_new, name="job-new"),
    path("jobs/<str:job_id>/", pages.job_detail, name="job-detail"),
    path("jobs/<str:object_id>/live", sse_views.job_live, name="job-live"),
    path("bulk/new", pages.bulk_new, name="bulk-new"),
    path("bulk/<str:bulk_id>/", pages.bulk_detail, name="bulk-detail"),
    path("bulk/<str:object_id>/live", sse_views.bulk_live, name="bulk-live"),
    path("jobs/<str:job_id>/article.md", export_views.article_markdown, name="job-markdown"),
    path("jobs/<str:job_id>/article.html", export_views.article_html, name="job-html"),
    path("bulk/<str:bulk_id>/articles.zip", export_views.batch_zip, name="bulk-zip"),
    path("history/", history_views.history, name="history"),
    path("analytics/", analytics_views.analytics_page, name="analytics"),
    path("settings/webhooks/", include("jobs.webhooks.page_urls")),
    path("ops/", ops.ops_page, name="ops"),
    path("ops/live", ops.ops_live, name="ops-live"),
]
