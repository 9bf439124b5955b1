from __future__ import annotations

from django.urls import path

from jobs import downloads
from progress import pages

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
    path("jobs/new", pages.job_new, name="job-new"),
    path("jobs/<str:job_id>/", pages.job_detail, name="job-detail"),
    path("jobs/<str:job_id>/article.md", downloads.article_markdown, name="job-markdown"),
    path("bulk/new", pages.bulk_new, name="bulk-new"),
    path("bulk/<str:bulk_id>/", pages.bulk_detail, name="bulk-detail"),
]
