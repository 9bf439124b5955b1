"""The article as a Markdown file: the stored text, served so no browser can run it."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.text import slugify

from jobs import selectors
from jobs.models import GenerationJob


@login_required
def article_markdown(request: HttpRequest, job_id: str) -> HttpResponse:
    """An attachment of type text/markdown with `nosniff` and a sandbox policy: never rendered as a page."""
    job = selectors.job_for_user(user=request.user, job_id=job_id)
    if job is None or job.status != GenerationJob.Status.COMPLETED or job.result is None:
        raise Http404("No such article.")
    name = slugify(job.result.meta_title or job.title)[:80] or "article"
    response = HttpResponse(job.result.content, content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.md"'
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    return response
