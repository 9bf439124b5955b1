"""`/history/`: my past articles and batches, filtered through the URL so a view can be bookmarked."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from jobs.core.filters import FILTER_FIELDS, ORDERINGS, history_batches, history_jobs, parse_filters
from jobs.models import GenerationJob

PAGE_SIZE = 25
BATCHES_SHOWN = 10
ORDERING_LABELS = {
    "-created_at": "Newest first",
    "created_at": "Oldest first",
    "-duration": "Longest first",
    "duration": "Shortest first",
}


def history_row(job: GenerationJob) -> dict[str, Any]:
    result = job.result
    return {
        "job_id": str(job.pk),
        "title": job.title,
        "status": job.status,
        "status_label": job.get_status_display(),
        "mode": job.get_mode_display(),
        "tone": job.get_tone_display(),
        "created_at": job.created_at,
        "duration": job.progress.elapsed_seconds if job.progress.started_at else None,
        "attempts": job.attempts,
        "word_count": result.word_count if result else None,
        "seo_score": result.seo_score if result else None,
        "readability": result.readability_score if result else None,
        "bulk_job_id": str(job.bulk_job_id) if job.bulk_job_id else None,
    }


@login_required
def history(request: HttpRequest) -> HttpResponse:
    filters, errors = parse_filters(request.GET)
    page = Paginator(history_jobs(user=request.user, filters=filters), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "rows": [history_row(job) for job in page.object_list],
        "page": page,
        "batches": history_batches(user=request.user, filters=filters, count=BATCHES_SHOWN),
        "errors": errors,
        "values": {name: request.GET.get(name, "") for name in FILTER_FIELDS},
        "query": query.urlencode(),
        "statuses": GenerationJob.Status.choices,
        "modes": GenerationJob.Mode.choices,
        "tones": GenerationJob.Tone.choices,
        "orderings": [(key, ORDERING_LABELS[key]) for key in ORDERINGS],
        "filtered": any(request.GET.get(name) for name in FILTER_FIELDS),
    }
    return render(request, "jobs/history.html", context, status=400 if errors else 200)
