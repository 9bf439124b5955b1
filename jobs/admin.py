from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import truncatewords
from django.utils.html import format_html, format_html_join
from rest_framework.authtoken.admin import TokenAdmin
from rest_framework.authtoken.models import TokenProxy

from jobs.models import BulkJob, GenerationJob, Stage


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


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

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
                ("Readability (Flesch)", r.readability_score),
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
class BulkJobAdmin(admin.ModelAdmin):
    list_display = ("__str__", "user", "total", "count_queued", "count_processing", "count_completed",
                    "count_failed", "count_cancelled", "created_at")  # fmt: skip
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = ("user", "total", "count_queued", "count_processing", "count_completed", "count_failed",
                       "count_cancelled", "created_at", "updated_at", "completed_at")  # fmt: skip
    fields = readonly_fields
    inlines = (JobInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


# DRF's token admin orders by `user__username`, a projection across a relation that the embedded
# SecantusDB answers wrongly (docs/measurements.md); order by creation instead, so the page works on
# both servers.
admin.site.unregister(TokenProxy)


@admin.register(TokenProxy)
class ContentgenTokenAdmin(TokenAdmin):
    ordering = ("-created",)
    list_select_related = ("user",)
