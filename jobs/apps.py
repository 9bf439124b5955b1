from __future__ import annotations

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "jobs"
    verbose_name = "Generation jobs"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"

    def ready(self) -> None:
        # Signal receivers connect on import.
        from jobs.ops import metrics  # noqa: PLC0415 - needs the app registry
        from jobs.web import emails  # noqa: F401, PLC0415 - needs the app registry
        from jobs.webhooks import receivers  # noqa: F401, PLC0415 - needs the app registry

        metrics.install()
