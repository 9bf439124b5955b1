"""The REST API under /api/: jobs, batches, their downloads and their SSE streams (jobs.live.routes)."""

from __future__ import annotations

from django.urls import include, path

from jobs.api import views as api_views
from jobs.live.routes import api_urlpatterns as stream_urlpatterns
from jobs.reports import downloads
from jobs.reports import views as report_views

urlpatterns = [
    *stream_urlpatterns(),
    path("jobs/", api_views.JobListCreateApi.as_view(), name="api-jobs"),
    path("jobs/<str:job_id>/", api_views.JobDetailApi.as_view(), name="api-job"),
    path("jobs/<str:job_id>/cancel/", api_views.JobCancelApi.as_view(), name="api-job-cancel"),
    path("jobs/<str:job_id>/retry/", api_views.JobRetryApi.as_view(), name="api-job-retry"),
    path("bulk-jobs/", api_views.BulkCreateApi.as_view(), name="api-bulk-jobs"),
    path("bulk-jobs/<str:bulk_id>/", api_views.BulkDetailApi.as_view(), name="api-bulk-job"),
    path("bulk-jobs/<str:bulk_id>/cancel/", api_views.BulkCancelApi.as_view(), name="api-bulk-job-cancel"),
    path(
        "bulk-jobs/<str:bulk_id>/retry-failed/",
        api_views.BulkRetryFailedApi.as_view(),
        name="api-bulk-job-retry-failed",
    ),
    path("jobs/<str:job_id>/article.md", downloads.ArticleMarkdownApi.as_view(), name="api-job-markdown"),
    path("jobs/<str:job_id>/article.html", downloads.ArticleHtmlApi.as_view(), name="api-job-html"),
    path("bulk-jobs/<str:bulk_id>/articles.zip", downloads.BatchZipApi.as_view(), name="api-bulk-zip"),
    path("analytics/", report_views.AnalyticsApi.as_view(), name="api-analytics"),
    path("usage/", report_views.UsageApi.as_view(), name="api-usage"),
    path("webhooks/", include("jobs.webhooks.urls")),
    path("sources/", include("jobs.sources.urls")),
]
