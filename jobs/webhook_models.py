"""Webhook endpoints and deliveries. Imported by jobs.models, so they belong to the `jobs` app (its own
module so that jobs.webhooks, which needs the API serializers, and jobs.models form no cycle)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone
from django_mongodb_backend.fields import ArrayField


class WebhookEvent(models.TextChoices):
    JOB_COMPLETED = "job.completed", "Job completed"
    JOB_FAILED = "job.failed", "Job failed"
    JOB_CANCELLED = "job.cancelled", "Job cancelled"
    BULK_COMPLETED = "bulk.completed", "Batch completed"


# Sent by `POST /api/webhooks/<id>/test/` only; nobody subscribes to it.
TEST_EVENT = "webhook.test"


class WebhookEndpoint(models.Model):
    user_id: Any

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    events = ArrayField(models.CharField(max_length=32, choices=WebhookEvent.choices))
    secret = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=500, blank=True, default="")
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "webhook_endpoints"
        ordering = ("-created_at",)
        indexes: ClassVar = [models.Index(fields=["user", "active"], name="webhook_user_active")]

    def __str__(self) -> str:
        return self.url


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERING = "delivering", "Delivering"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    endpoint_id: Any

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_type = models.CharField(max_length=32)
    # The exact bytes sent, fixed when the event happened: every attempt signs and sends the same body.
    body = models.TextField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveIntegerField(default=0)
    # [{"at", "status_code", "duration_ms", "error", "next_attempt_at"}], oldest first.
    attempts = models.JSONField(default=list, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Retries stop 24 h after this: the event's time, or the time of a manual redelivery.
    retry_from = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001 - null means unclaimed
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "webhook_deliveries"
        ordering = ("-created_at",)
        indexes: ClassVar = [
            models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} -> {self.endpoint_id} ({self.status})"
