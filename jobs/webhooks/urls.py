"""`/api/webhooks/...`"""

from __future__ import annotations

from django.urls import path

from jobs.webhooks import apis

urlpatterns = [
    path("", apis.WebhookListCreateApi.as_view(), name="api-webhooks"),
    path("<str:endpoint_id>/", apis.WebhookDetailApi.as_view(), name="api-webhook"),
    path("<str:endpoint_id>/test/", apis.WebhookTestApi.as_view(), name="api-webhook-test"),
    path(
        "<str:endpoint_id>/deliveries/", apis.WebhookDeliveryListApi.as_view(), name="api-webhook-deliveries"
    ),
    path(
        "<str:endpoint_id>/deliveries/<str:delivery_id>/",
        apis.WebhookDeliveryDetailApi.as_view(),
        name="api-webhook-delivery",
    ),
    path(
        "<str:endpoint_id>/deliveries/<str:delivery_id>/redeliver/",
        apis.WebhookRedeliverApi.as_view(),
        name="api-webhook-redeliver",
    ),
]
