"""`/settings/webhooks/...`"""

from __future__ import annotations

from django.urls import path

from jobs.webhooks import pages

urlpatterns = [
    path("", pages.webhooks_page, name="settings-webhooks"),
    path(
        "<str:endpoint_id>/<str:action>",
        pages.webhook_action,
        name="settings-webhook-action",
    ),
    path(
        "<str:endpoint_id>/deliveries/<str:delivery_id>/redeliver",
        pages.webhook_redeliver,
        name="settings-webhook-redeliver",
    ),
]
