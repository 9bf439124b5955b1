"""The HTML pages and `live_fragments`, the renderer the page streams call for every event.

The first render and every live push go through the same context builders and the same partials,
so a page after N events looks exactly like a fresh load.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from contentgen.errors import ApplicationError, RateLimited
from jobs.core import limits, selectors, services
from jobs.core.batches import bulk_snapshot
from jobs.core.events import complete_event, job_summary, progress_dict, progress_event
from jobs.core.validation import parse_batch, parse_job
from jobs.models import GenerationJob, Stage
from jobs.pipeline.stages import STAGE_ORDER, stage_label
from jobs.web import forms
from progress import events as event_log

APP = "contentgen"
JOB_TEMPLATE = "jobs/job_detail.html"
BULK_TEMPLATE = "jobs/bulk_detail.html"
DASHBOARD_TEMPLATE = "jobs/dashboard.html"
STATE_LABELS = {"pending": "Pending", "running": "Running", "done": "Done", "failed": "Failed"}
EVENT_HISTORY = 1000


def _stages(stages: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "label": stage_label(name),
            "state": info.get("state", "pending"),
            "state_label": STATE_LABELS.get(info.get("state", "pending"), info.get("state", "")),
            "percentage": info.get("percentage") or 0,
            "seconds": info.get("seconds"),
        }
        for name, info in (stages or {}).items()
    ]


def _status_label(status: str) -> str:
    return GenerationJob.Status(status).label if status in GenerationJob.Status.values else status


def job_tab_title(*, status: str, percentage: float, stage: str) -> str:
    if status == GenerationJob.Status.FAILED:
        return f"Failed · {stage_label(stage)} · {APP}"
    if status == GenerationJob.Status.CANCELLED:
        return f"Cancelled · {APP}"
    return f"{int(percentage)}% · {stage_label(stage)} · {APP}"


def job_context(data: dict[str, Any]) -> dict[str, Any]:
    """A job event (`progress` or `complete`) as the job page's partials see it."""
    progress = data.get("progress") or {}
    status = data.get("status", GenerationJob.Status.QUEUED)
    percentage = float(progress.get("percentage") or 0)
    stage = progress.get("stage") or Stage.QUEUED
    return {
        "job_id": data["job_id"],
        "status": status,
        "status_label": _status_label(status),
        "terminal": status in GenerationJob.TERMINAL,
        "percentage": percentage,
        "stage": stage,
        "stage_label": stage_label(stage),
        "stage_progress": progress.get("stage_progress") or 0,
        "message": progress.get("message") or "",
        "started_at": progress.get("started_at"),
        "completed_at": progress.get("completed_at"),
        "eta": progress.get("estimated_completion"),
        "estimated_start": progress.get("estimated_start"),
        "eta_low": progress.get("estimated_completion_low"),
        "eta_high": progress.get("estimated_completion_high"),
        "elapsed_seconds": progress.get("elapsed_seconds") or 0,
        "stages": _stages(data.get("stages")),
        "result": data.get("result"),
        "error": data.get("error"),
        "timestamp": data.get("timestamp"),
        "tab_title": job_tab_title(status=status, percentage=percentage, stage=stage),
        "event": event_item(data),
        "attempts": data.get("attempts"),
    }


def event_item(data: dict[str, Any]) -> dict[str, Any]:
    progress = data.get("progress") or {}
    stamp = data.get("timestamp") or ""
    message = progress.get("message") or data.get("status", "")
    if (data.get("error") or {}).get("message"):
        message = f"{message}: {data['error']['message']}"
    return {
        "key": f"{data.get('status')}|{progress.get('stage')}|{message}",
        "dom_id": "ev-" + "".join(ch for ch in stamp if ch.isdigit()),
        "message": message,
        "timestamp": stamp,
        "status": data.get("status"),
    }


def _cells(stages: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The batch grid's stage columns; `na` where the mode has no such stage."""
    by_name = {stage["name"]: stage for stage in _stages(stages)}
    return [
        by_name.get(name) or {"name": name, "label": stage_label(name), "na": True} for name in STAGE_ORDER
    ]


def summary_context(summary: dict[str, Any]) -> dict[str, Any]:
    """One article's row (dashboard list, batch grid) from `job_summary` or a job event."""
    progress = summary.get("progress") or {}
    status = summary.get("status", GenerationJob.Status.QUEUED)
    stage = summary.get("stage") or progress.get("stage") or Stage.QUEUED
    percentage = summary.get("percentage", progress.get("percentage")) or 0
    return {
        "job_id": summary["job_id"],
        "title": summary.get("title"),
        "status": status,
        "status_label": _status_label(status),
        "stage": stage,
        "stage_label": stage_label(stage),
        "percentage": percentage,
        "message": summary.get("message", progress.get("message")) or "",
        "estimated_start": progress.get("estimated_start"),
        "eta": progress.get("estimated_completion"),
        "timestamp": summary.get("timestamp"),
        "stages": _stages(summary.get("stages")),
        "cells": _cells(summary.get("stages")),
        "error": summary.get("error"),
    }


def bulk_context(data: dict[str, Any]) -> dict[str, Any]:
    counts = data.get("counts") or {}
    total = int(data.get("total") or 0)
    finished = int(data.get("finished", sum(counts.get(k, 0) for k in ("completed", "failed", "cancelled"))))
    completed = int(counts.get("completed", 0))
    done = data.get("status") == "completed" or (total > 0 and finished >= total)
    return {
        "bulk_id": data["bulk_job_id"],
        "total": total,
        "finished": finished,
        "completed": completed,
        "counts": counts,
        "failed": int(counts.get("failed", 0)),
        "processing": int(counts.get("processing", 0)),
        "queued": int(counts.get("queued", 0)),
        "cancelled": int(counts.get("cancelled", 0)),
        "percentage": 100.0 if done else float(data.get("percentage") or 0),
        "eta": data.get("estimated_completion"),
        "done": done,
        "tab_title": f"{completed} of {total} · {APP}",
    }


def _partial(template: str, name: str, context: dict[str, Any]) -> str:
    return render_to_string(f"{template}#{name}", context).strip()


def _job_fragments(event: str, data: dict[str, Any]) -> list[str]:
    j = job_context(data)
    ctx = {"j": j, "ev": j["event"], "chunk": data.get("draft")}
    names = ["job-progress", "job-status", "job-actions", "job-stages", "job-event"]
    if ctx["chunk"]:
        names.append("job-draft-chunk")
    if event == "complete" or ctx["j"]["terminal"]:
        names.append("job-result")
    if j["status"] == GenerationJob.Status.COMPLETED:
        names.append("job-draft")
    return [_partial(JOB_TEMPLATE, name, ctx) for name in names]


def draft_text(stored: list[dict[str, Any]]) -> str:
    """The writing draft as the progress events carried it: chunks from the last restart (offset 0) on."""
    text = ""
    for event in stored:
        chunk = (event.get("data") or {}).get("draft")
        if not chunk:
            continue
        offset = int(chunk.get("offset") or 0)
        if offset == 0 or offset == len(text):
            text = text[:offset] + str(chunk.get("text") or "")
    return text


def _table_part(html: str) -> str:
    """Table rows and cells only parse inside a table or a <template>: live.js unwraps the template."""
    return f"<template>{html}</template>"


def _bulk_fragments(data: dict[str, Any]) -> list[str]:
    out = [_partial(BULK_TEMPLATE, "bulk-summary", {"b": bulk_context(data)})]
    member = data.get("job")
    member_id = member.get("job_id") if member else None
    for current in data.get("current") or []:
        if current.get("job_id") and current.get("job_id") != member_id:
            cell = {"job_id": current["job_id"], "percentage": current.get("percentage") or 0}
            cell["status"] = GenerationJob.Status.PROCESSING
            out.append(_table_part(_partial(BULK_TEMPLATE, "bulk-overall-cell", {"row": cell})))
    if member:
        row = summary_context(member)
        out.append(_table_part(_partial(BULK_TEMPLATE, "bulk-row", {"row": row})))
        if row["error"]:
            out.append(_partial(BULK_TEMPLATE, "bulk-failure", {"row": row}))
    return out


def _dashboard_fragments(data: dict[str, Any]) -> list[str]:
    if "total" in data and "bulk_job_id" in data:
        return [_partial(DASHBOARD_TEMPLATE, "bulk-row", {"b": bulk_context(data)})]
    return [_partial(DASHBOARD_TEMPLATE, "job-row", {"row": summary_context(data)})]


def live_fragments(*, view: str, event: str, data: dict[str, Any]) -> str:
    """HTML for one event: top-level elements whose ids exist on the page (live.js swaps them by id).

    A top-level <template> carries table rows or cells (which parse nowhere else); its children are swapped.
    Elements with `data-live-append` / `data-live-prepend` name the container they join when the page
    lacks them; children with `data-live-keep` keep the page's copy (e.g. a title the event lacks).
    Pure: no database access.
    """
    if view == "job":
        parts = _job_fragments(event, data)
    elif view == "bulk":
        parts = _bulk_fragments(data)
    elif view == "dashboard":
        parts = _dashboard_fragments(data)
    else:
        raise ValueError(f"unknown view {view!r}")
    return "\n".join(parts)


# Pages


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
    return {
        "job_rows": [summary_context(_summary_with_progress(job)) for job in jobs],
        "bulk_rows": [bulk_context(bulk_snapshot(bulk)) for bulk in batches],
        "job_form": job_form or forms.empty_job_form(),
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
        context = {**forms.choices(), **forms_ctx}
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
    spec, errors = parse_job(forms.job_payload(request.POST))
    if spec is None:
        form["errors"] = forms.field_errors(errors)
        return _form_errors(request, "job-form", job_form=form)
    try:
        limits.charge_jobs(user=request.user)
    except RateLimited as exc:
        form["errors"] = {"non_field_errors": [exc.message]}
        return _form_errors(request, "job-form", limited=exc, job_form=form)
    job = services.job_create(user=request.user, spec=spec)
    return _redirect(request, reverse("job-detail", args=[str(job.pk)]))


@login_required
@require_POST
def bulk_new(request: HttpRequest) -> HttpResponse:
    form = forms.batch_form(request.POST)
    batch = forms.batch_payload(request.POST, request.FILES)
    messages = list(batch.errors)
    specs: list[Any] = []
    if not messages:
        specs, errors = parse_batch(batch.payload)
        messages = forms.batch_errors(errors, batch.row_labels)
    limited: RateLimited | None = None
    if not messages:
        try:
            limits.charge_batch_items(user=request.user, count=len(specs))
            bulk = services.bulk_create(user=request.user, specs=specs)
        except RateLimited as exc:
            messages, limited = [exc.message], exc
        except ApplicationError as exc:
            messages = [str(exc)]
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
