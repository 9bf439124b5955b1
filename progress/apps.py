from __future__ import annotations

from django.apps import AppConfig


class ProgressConfig(AppConfig):
    name = "progress"
    verbose_name = "Progress tracking"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"
