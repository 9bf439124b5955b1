from __future__ import annotations

from django.urls import path

from progress import sse

urlpatterns = [
    path("jobs/<str:job_id>/progress", sse.job_progress, name="api-job-progress"),
    path("bulk-jobs/<str:bulk_id>/progress", sse.bulk_progress, name="api-bulk-progress"),
]
