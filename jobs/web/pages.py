"""The HTML pages: the dashboard (new job, new batch, my jobs), a job's page and a batch's page."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from contentgen.errors import ApplicationError, InvalidInput, RateLimited
from jobs.core import inputs, selectors, services
from jobs.core.batches import bulk_snapshot
from jobs.core.events import complete_event, job_summary, progress_dict, progress_event
from jobs.models import GenerationJob
from jobs.pipeline.stages import STAGE_ORDER, stage_label
from jobs.web import forms
from jobs.web.fragments import (
    BULK_TEMPLATE,
    DASHBOARD_TEMPLATE,
    JOB_TEMPLATE,
    bulk_context,
    draft_text,
    event_item,
    job_context,
    summary_context,
)
from progress import events as event_log

# How many of a job's last events its page lists.
EVENT_HISTORY = 1000


def _summary_with_progress(job: GenerationJob) -> dict[str, Any]:
    """A dashboard row's first render: the summary plus the times live events carry (queue forecast, ETA)."""
    return {**job_summary(job), "progress": progress_dict(job.progress)}


def _dashboard_context(
    request: HttpRequest,
    *,
    job_form: dict[str, Any] | None = None,
    batch_form: dict[str, Any] | None = None,
) -> dict[str, Any]:
    jobs = selectors.newest_jobs(user=request.user, count=50)
    batches = selectors.newest_bulks(user=request.user, count=20)
    research = services.ResearchDefaults.for_user(request.user)
    return {
        "job_rows": [summary_context(_summary_with_progress(job)) for job in jobs],
        "bulk_rows": [bulk_context(bulk_snapshot(bulk)) for bulk in batches],
        "job_form": job_form or forms.empty_job_form(research),
        "research": research,
        "batch_form": batch_form or forms.empty_batch_form(),
        **forms.choices(),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, DASHBOARD_TEMPLATE, _dashboard_context(request))


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        return HttpResponseClientRedirect(url)
    return HttpResponseRedirect(url)


def _form_errors(
    request: HttpRequest, partial: str, *, limited: RateLimited | None = None, **forms_ctx: dict[str, Any]
) -> HttpResponse:
    status = limited.status if limited else 400
    if getattr(request, "htmx", False):
        research = services.ResearchDefaults.for_user(request.user)
        context = {**forms.choices(), "research": research, **forms_ctx}
        response = render(request, f"{DASHBOARD_TEMPLATE}#{partial}", context, status=status)
    else:
        context = _dashboard_context(request, **forms_ctx)
        response = render(request, DASHBOARD_TEMPLATE, context, status=status)
    if limited:
        response["Retry-After"] = str(limited.retry_after)
    return response


@login_required
@require_POST
def job_new(request: HttpRequest) -> HttpResponse:
    form = forms.job_form(request.POST)
    try:
        job = services.job_submit(user=request.user, data=inputs.job_payload(request.POST))
    except InvalidInput as exc:
        form["errors"] = inputs.field_errors(exc.errors)
        return _form_errors(request, "job-form", job_form=form)
    except RateLimited as exc:
        form["errors"] = {"non_field_errors": [exc.message]}
        return _form_errors(request, "job-form", limited=exc, job_form=form)
    return _redirect(request, reverse("job-detail", args=[str(job.pk)]))


@login_required
@require_POST
def bulk_new(request: HttpRequest) -> HttpResponse:
    form = forms.batch_form(request.POST)
    batch = forms.batch_payload(request.POST, request.FILES)
    messages = list(batch.errors)
    limited: RateLimited | None = None
    if not messages:
        try:
            bulk = services.bulk_submit(
                user=request.user, data=batch.payload, notify_email=forms.wants_email(request.POST)
            )
        except InvalidInput as exc:
            messages = inputs.batch_errors(exc.errors, batch.row_labels)
        except RateLimited as exc:
            messages, limited = [exc.message], exc
        except ApplicationError as exc:
            messages = [exc.message]
        else:
            return _redirect(request, reverse("bulk-detail", args=[str(bulk.pk)]))
    form["errors"] = messages
    return _form_errors(request, "batch-form", limited=limited, batch_form=form)


def _event_history(stored_events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The job's timeline; an event in the same status and stage as the one before is `minor`, so the
    page shows the stage changes by default and every event on request."""
    items: list[dict[str, Any]] = []
    for stored in stored_events:
        data = stored.get("data") or {}
        item = event_item(data)
        if not items or items[-1]["key"] != item["key"]:
            phase = (data.get("status"), (data.get("progress") or {}).get("stage"))
            item["minor"] = bool(items) and items[-1]["phase"] == phase
            item["phase"] = phase
            items.append(item)
    return items


def _owned_with_seq(request: HttpRequest, find: Any, *, missing: str, **object_id: str) -> tuple[Any, int]:
    """The user's job or batch (else 404), and the last seq of its stream stored before it was read:
    the page's stream resumes there, so nothing between the render and the stream's connection is missed."""
    oid = selectors.parse_id(next(iter(object_id.values())))
    since = event_log.last_seq(oid) if oid else 0
    found = find(user=request.user, **object_id)
    if found is None:
        raise Http404(missing)
    return found, since


@login_required
def job_detail(request: HttpRequest, job_id: str) -> HttpResponse:
    job, since = _owned_with_seq(request, selectors.job_for_user, job_id=job_id, missing="No such article.")
    data = complete_event(job) if job.is_terminal else progress_event(job)
    # The draft so far, up to `since` only: the live stream replays what comes after it. Two bounded reads:
    # the events that carry draft chunks, and the timeline's last events.
    done = job.status == GenerationJob.Status.COMPLETED
    draft = "" if done else draft_text(event_log.carrying(job.pk, "draft", through=since))
    context = {
        "job": job,
        "j": job_context(data),
        "events": _event_history(event_log.last_events(job.pk, EVENT_HISTORY)),
        "draft": draft,
        "live_src": None if job.is_terminal else f"/jobs/{job.pk}/live?last_event_id={since}",
    }
    return render(request, JOB_TEMPLATE, context)


@login_required
def bulk_detail(request: HttpRequest, bulk_id: str) -> HttpResponse:
    bulk, since = _owned_with_seq(request, selectors.bulk_for_user, bulk_id=bulk_id, missing="No such batch.")
    b = bulk_context(bulk_snapshot(bulk))
    rows = [summary_context(job_summary(job)) for job in selectors.bulk_jobs(bulk=bulk)]
    context = {
        "bulk": bulk,
        "b": b,
        "rows": rows,
        "failures": [row for row in rows if row["error"]],
        "stage_columns": [stage_label(name) for name in STAGE_ORDER],
        "live_src": None if b["done"] else f"/bulk/{bulk.pk}/live?last_event_id={since}",
    }
    return render(request, BULK_TEMPLATE, context)
