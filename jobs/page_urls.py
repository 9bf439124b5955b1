"""The HTML pages and their live streams."""

from __future__ import annotations

from django.urls import include, path

from jobs.live.routes import page_urlpatterns as stream_urlpatterns
from jobs.ops import pages as ops_pages
from jobs.reports import downloads, history
from jobs.reports import views as report_views
from jobs.web import pages

urlpatterns = [
    *stream_urlpatterns(),
    path("", pages.dashboard, name="dashboard"),
    path("jobs/new", pages.job_new, name="job-new"),
    path("jobs/<str:job_id>/", pages.job_detail, name="job-detail"),
    path("bulk/new", pages.bulk_new, name="bulk-new"),
    path("bulk/<str:bulk_id>/", pages.bulk_detail, name="bulk-detail"),
    path("jobs/<str:job_id>/article.md", downloads.article_markdown, name="job-markdown"),
    path("jobs/<str:job_id>/article.html", downloads.article_html, name="job-html"),
    path("bulk/<str:bulk_id>/articles.zip", downloads.batch_zip, name="bulk-zip"),
    path("history/", history.history, name="history"),
    path("analytics/", report_views.analytics_page, name="analytics"),
    path("settings/webhooks/", include("jobs.webhooks.page_urls")),
    path("sources/", include("jobs.sources.page_urls")),
    path("ops/", ops_pages.ops_page, name="ops"),
    path("ops/live", ops_pages.ops_live, name="ops-live"),
]
