"""The admin: jobs and batches for staff (filters, search, progress and results at a glance), their cancel
and retry actions, and the API tokens."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatewords
from django.utils.html import format_html, format_html_join
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from contentgen.errors import ApplicationError
from jobs.core import services
from jobs.models import BulkJob, GenerationJob, Stage
from jobs.pipeline.seo import report_summary


class StageFilter(admin.SimpleListFilter):
    title = "stage"
    parameter_name = "stage"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return list(Stage.choices)

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(progress__stage=value) if value else queryset


def _rows(rows: list[tuple[str, Any]]) -> str:
    return format_html(
        "<table>{}</table>",
        format_html_join("", "<tr><th style='text-align:left'>{}</th><td>{}</td></tr>", rows),
    )


class ManageActions(admin.ModelAdmin):
    def has_manage_permission(self, request: HttpRequest) -> bool:
        """Moving jobs needs the model's change permission, even where the form itself is read-only."""
        return admin.ModelAdmin.has_change_permission(self, request)


@admin.register(GenerationJob)
class GenerationJobAdmin(ManageActions):
    list_display = (
        "title",
        "status",
        "mode",
        "stage",
        "percentage",
        "user",
        "bulk_job",
        "created_at",
        "updated_at",
    )
    list_filter = ("status", "mode", StageFilter)
    list_select_related = ("user", "bulk_job")
    search_fields = ("topic",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    fieldsets = (
        (None, {"fields": ("title", "user", "bulk_job", "mode", "status", "tone", "word_count", "keywords")}),
        (
            "Progress",
            {"fields": ("progress_table", "attempts", "lease_owner", "lease_expires_at", "timings_table")},
        ),
        ("Result", {"fields": ("result_table", "content_preview")}),
        ("Error", {"fields": ("error_table",)}),
        ("Timestamps", {"fields": ("queued_at", "created_at", "updated_at")}),
    )
    readonly_fields = (
        "title", "user", "bulk_job", "mode", "status", "tone", "word_count", "keywords", "progress_table",
        "attempts", "lease_owner", "lease_expires_at", "timings_table", "result_table", "content_preview",
        "error_table", "queued_at", "created_at", "updated_at",
    )  # fmt: skip

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        by_topic, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term:
            return by_topic, may_have_duplicates
        by_keyword = queryset.filter(keywords__contains=[search_term.strip()])
        return by_topic | by_keyword, may_have_duplicates

    actions = ("cancel_selected", "retry_selected")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Cancel selected jobs", permissions=["manage"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[GenerationJob]) -> None:
        run_action(request, "cancel_jobs", queryset)

    @admin.action(description="Retry selected jobs (failed or cancelled)", permissions=["manage"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[GenerationJob]) -> None:
        run_action(request, "retry_jobs", queryset)

    @admin.display(description="stage", ordering="progress__stage")
    def stage(self, job: GenerationJob) -> str:
        return str(job.progress.stage)

    @admin.display(description="%", ordering="progress__percentage")
    def percentage(self, job: GenerationJob) -> str:
        return f"{job.progress.percentage:.0f}%"

    @admin.display(description="progress")
    def progress_table(self, job: GenerationJob) -> str:
        p = job.progress
        return _rows(
            [
                ("Overall", f"{p.percentage:.1f}%"),
                ("Stage", f"{p.stage} ({p.stage_progress:.0f}%)"),
                ("Message", p.message),
                ("Started", p.started_at or "-"),
                ("Completed", p.completed_at or "-"),
                ("Estimated completion", p.estimated_completion or "-"),
                ("Elapsed", f"{p.elapsed_seconds:.1f} s"),
            ]
        )

    @admin.display(description="stage timings")
    def timings_table(self, job: GenerationJob) -> str:
        timings = job.stage_timings or {}
        rows = [
            (stage, f"{t.get('seconds', 0):.1f} s") for stage, t in timings.items() if isinstance(t, dict)
        ]
        return _rows(rows) if rows else "-"

    @admin.display(description="result")
    def result_table(self, job: GenerationJob) -> str:
        r = job.result
        if r is None:
            return "-"
        return _rows(
            [
                ("Meta title", r.meta_title),
                ("Meta description", r.meta_description),
                ("Words", r.word_count),
                ("SEO score", f"{r.seo_score}/100"),
                ("Readability score", f"{r.readability_score}/100"),
                ("SEO report", report_summary(r.seo_report or [])),
                ("Meta derived from the article", "yes" if r.meta_derived else "no"),
            ]
        )

    @admin.display(description="content preview")
    def content_preview(self, job: GenerationJob) -> str:
        if job.result is None:
            return "-"
        return format_html(
            "<pre style='white-space:pre-wrap;max-width:60em'>{}</pre>",
            truncatewords(job.result.content, 200),
        )

    @admin.display(description="error")
    def error_table(self, job: GenerationJob) -> str:
        e = job.error
        if e is None:
            return "-"
        return _rows([("Stage", e.stage), ("Message", e.message), ("When", e.timestamp)])


class JobInline(admin.TabularInline):
    model = GenerationJob
    fields = ("title", "status", "mode", "stage", "percentage")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="stage")
    def stage(self, job: GenerationJob) -> str:
        return str(job.progress.stage)

    @admin.display(description="%")
    def percentage(self, job: GenerationJob) -> str:
        return f"{job.progress.percentage:.0f}%"


@admin.register(BulkJob)
class BulkJobAdmin(ManageActions):
    list_display = ("__str__", "user", "total", "count_queued", "count_processing", "count_completed",
                    "count_failed", "count_cancelled", "created_at")  # fmt: skip
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = ("user", "total", "count_queued", "count_processing", "count_completed", "count_failed",
                       "count_cancelled", "created_at", "updated_at", "completed_at")  # fmt: skip
    fields = readonly_fields
    inlines = (JobInline,)
    actions = ("cancel_selected", "retry_failed_members")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Cancel selected batches (every unfinished article)", permissions=["manage"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[BulkJob]) -> None:
        run_action(request, "cancel_batches", queryset)

    @admin.action(description="Retry failed members of selected batches", permissions=["manage"])
    def retry_failed_members(self, request: HttpRequest, queryset: QuerySet[BulkJob]) -> None:
        run_action(request, "retry_failed_members", queryset)


# DRF's token admin orders by `user__username`, a projection across a relation that the embedded
# SecantusDB answers wrongly (docs/measurements.md); order by creation instead, so the page works on
# both servers.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class ContentgenTokenAdmin(TokenAdmin):
    ordering = ("-created",)
    list_select_related = ("user",)


# Staff actions on the changelists: the same services as the API, one object at a time, with a message that
# says how many changed, how many were skipped, and why.

JOB, BATCH = ("job", "jobs"), ("batch", "batches")


@dataclass
class Tally:
    noun: str
    plural: str
    changed: int = 0
    requested: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def message(self, verb: str) -> str:
        parts = [f"{verb} {self.changed} {self.noun if self.changed == 1 else self.plural}"]
        if self.requested:
            parts.append(
                f"asked {self.requested} running article{'' if self.requested == 1 else 's'} to stop"
            )
        text = ", ".join(parts)
        skipped = sum(self.skipped.values())
        if skipped:
            reasons = "; ".join(f"{count} {reason}" for reason, count in sorted(self.skipped.items()))
            text += f". Skipped {skipped}: {reasons}"
        return text + "."


def _job_reason(job: GenerationJob, exc: ApplicationError) -> str:
    job.refresh_from_db(fields=["status"])
    return f"already {job.status}" if job.status in GenerationJob.TERMINAL else f"{job.status}"


def _cancel_job(job: GenerationJob, tally: Tally) -> None:
    job = services.job_cancel(job=job)
    if job.status == GenerationJob.Status.CANCELLED:
        tally.changed += 1
    else:
        tally.requested += 1


def _retry_job(job: GenerationJob, tally: Tally) -> None:
    services.job_retry(job=job)
    tally.changed += 1


def _retry_reason(job: GenerationJob, exc: ApplicationError) -> str:
    return f"{_job_reason(job, exc)} (only failed or cancelled jobs are retried)"


def _bulk_reason(bulk: BulkJob, exc: ApplicationError) -> str:
    return exc.message.rstrip(".").lower().replace("this batch", "batch")


def _cancel_bulk(bulk: BulkJob, tally: Tally) -> None:
    outcome = services.bulk_cancel(bulk=bulk)
    tally.changed += 1
    tally.requested += outcome.requested


def _retry_bulk(bulk: BulkJob, tally: Tally) -> None:
    services.bulk_retry_failed(bulk=bulk, charge=False)
    tally.changed += 1


@dataclass(frozen=True)
class Action:
    act: Callable[[Any, Tally], None]
    noun: tuple[str, str]
    verb: str
    reason: Callable[[Any, ApplicationError], str]


ACTIONS = {
    "cancel_jobs": Action(_cancel_job, JOB, "Cancelled", _job_reason),
    "retry_jobs": Action(_retry_job, JOB, "Queued again", _retry_reason),
    "cancel_batches": Action(_cancel_bulk, BATCH, "Cancelled", _bulk_reason),
    "retry_failed_members": Action(_retry_bulk, BATCH, "Requeued the failed members of", _bulk_reason),
}


def run_action(request: HttpRequest, name: str, objects: Iterable[Any]) -> Tally:
    """Apply one action to each object; an illegal move is skipped, with its reason counted."""
    action = ACTIONS[name]
    tally = Tally(noun=action.noun[0], plural=action.noun[1])
    for obj in objects:
        try:
            action.act(obj, tally)
        except ApplicationError as exc:
            tally.skipped[action.reason(obj, exc)] += 1
    level = messages.SUCCESS if tally.changed or tally.requested else messages.WARNING
    messages.add_message(request, level, tally.message(action.verb))
    return tally
