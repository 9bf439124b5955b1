from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Generation jobs"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"
