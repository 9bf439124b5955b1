from __future__ import annotations

from django.contrib import admin

from progress.models import ProgressEvent


@admin.register(ProgressEvent)
class ProgressEventAdmin(admin.ModelAdmin):
    list_display = ("job_id", "scope", "seq", "type", "timestamp")
    list_filter = ("scope", "type")
    ordering = ("-timestamp",)
    readonly_fields = ("job_id", "scope", "seq", "type", "data", "timestamp")

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False
