"""What a page's first render and every live push share: the context builders and `live_fragments`, the
renderer the pages' streams call for every event. Both go through the same partials, so a page after N
events looks exactly like a fresh load. Pure: no database access.
"""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from jobs.models import GenerationJob, Stage
from jobs.pipeline.seo import report_groups
from jobs.pipeline.stages import STAGE_ORDER, stage_label

APP = "contentgen"
JOB_TEMPLATE = "jobs/job_detail.html"
BULK_TEMPLATE = "jobs/bulk_detail.html"
DASHBOARD_TEMPLATE = "jobs/dashboard.html"
STATE_LABELS = {"pending": "Pending", "running": "Running", "done": "Done", "failed": "Failed"}


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


def job_announcement(*, status: str, stage: str, error: dict[str, Any] | None) -> str:
    """What the page's polite live region says when this changes: a stage starting, the end; never a
    percentage (live.js announces a value only when it differs from the last one it saw)."""
    if status == GenerationJob.Status.PROCESSING:
        return f"{stage_label(stage)} stage started."
    if status == GenerationJob.Status.COMPLETED:
        return "Your article is ready."
    if status == GenerationJob.Status.FAILED:
        failed_in = (error or {}).get("stage") or stage
        where = f" in the {stage_label(failed_in)} stage" if failed_in in STAGE_ORDER else ""
        message = (error or {}).get("message") or ""
        return f"Generation failed{where}." + (f" {message}" if message else "")
    if status == GenerationJob.Status.CANCELLED:
        return "The article was cancelled."
    return ""


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
        "seo_groups": report_groups((data.get("result") or {}).get("seo_report") or []),
        "error": data.get("error"),
        "timestamp": data.get("timestamp"),
        "tab_title": job_tab_title(status=status, percentage=percentage, stage=stage),
        "announcement": job_announcement(status=status, stage=stage, error=data.get("error")),
        "event": event_item(data),
        "attempts": data.get("attempts"),
        "tokens": data.get("tokens"),
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
        "announcement": _row_announcement(summary.get("title"), status),
        # After the bar's percentage (aria-valuetext): the stage while it runs, else the status.
        "bar_words": (
            stage_label(stage) if status == GenerationJob.Status.PROCESSING else _status_label(status)
        ),
    }


def _row_announcement(title: str | None, status: str) -> str:
    """A list row speaks only when its article ends (the job page speaks its stages)."""
    if status not in GenerationJob.TERMINAL:
        return ""
    return f"{title or 'An article'}: {_status_label(status).lower()}."


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
        "bar_words": f"{finished} of {total} finished",
        "announcement": _bulk_announcement(
            total=total,
            completed=completed,
            failed=int(counts.get("failed", 0)),
            cancelled=int(counts.get("cancelled", 0)),
            done=done,
        ),
    }


def _bulk_announcement(*, total: int, completed: int, failed: int, cancelled: int, done: bool) -> str:
    """Spoken when a batch ends, and when one more of its articles fails; not for every article."""
    if done:
        others = "".join(f", {n} {word}" for n, word in ((failed, "failed"), (cancelled, "cancelled")) if n)
        return f"Batch finished: {completed} of {total} completed{others}."
    if failed:
        return f"{failed} article{'s' if failed != 1 else ''} of this batch failed."
    return ""


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
            cell["status_label"] = _status_label(cell["status"])
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
    elif view == "sources":
        parts = _sources_fragments(data)
    else:
        raise ValueError(f"unknown view {view!r}")
    return "\n".join(parts)


SOURCES_TEMPLATE = "jobs/sources.html"
SOURCE_STATUS_LABELS = {"queued": "Queued", "processing": "Indexing", "ready": "Ready", "failed": "Failed"}
KIND_LABELS = {"file": "File", "url": "Web page", "text": "Pasted text"}


def source_context(data: dict[str, Any]) -> dict[str, Any]:
    """A knowledge-base source's row, from its event (jobs.core.events.source_event) or its first render."""
    progress = data.get("progress") or {}
    status = str(data.get("status") or "queued")
    return {
        "source_id": data["source_id"],
        "title": data.get("title") or "",
        "kind": data.get("kind") or "",
        "kind_label": KIND_LABELS.get(str(data.get("kind")), ""),
        "status": status,
        "status_label": SOURCE_STATUS_LABELS.get(status, status),
        "passages": int(data.get("passages") or 0),
        "error": data.get("error") or "",
        "percentage": 100.0 if status in ("ready", "failed") else float(progress.get("percentage") or 0),
        "message": progress.get("message") or "",
        "active": status in ("queued", "processing"),
        "announcement": _source_announcement(data, status),
    }


def _source_announcement(data: dict[str, Any], status: str) -> str:
    title = data.get("title") or "A source"
    if status == "ready":
        return f"{title}: ready, {int(data.get('passages') or 0)} passages."
    if status == "failed":
        return f"{title}: failed. {data.get('error') or ''}".strip()
    return ""


def _sources_fragments(data: dict[str, Any]) -> list[str]:
    return [_partial(SOURCES_TEMPLATE, "source-row", {"s": source_context(data)})]
