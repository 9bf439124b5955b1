"""The REST API under /api/: jobs, batches and their SSE progress streams."""

from __future__ import annotations

from django.urls import path

from jobs import apis, sse_views

urlpatterns = [
    path("jobs/", apis.JobListCreateApi.as_view(), name="api-jobs"),
    path("jobs/<str:job_id>/", apis.JobDetailApi.as_view(), name="api-job"),
    path("jobs/<str:job_id>/cancel/", apis.JobCancelApi.as_view(), name="api-job-cancel"),
    path("jobs/<str:job_id>/retry/", apis.JobRetryApi.as_view(), name="api-job-retry"),
    path("jobs/<str:object_id>/progress", sse_views.job_progress, name="api-job-progress"),
    path("bulk-jobs/", apis.BulkCreateApi.as_view(), name="api-bulk-jobs"),
    path("bulk-jobs/<str:bulk_id>/", apis.BulkDetailApi.as_view(), name="api-bulk-job"),
    path("bulk-jobs/<str:object_id>/progress", sse_views.bulk_progress, name="api-bulk-progress"),
]
