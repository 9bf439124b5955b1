"""Reads, owner first: another user's endpoint or delivery is indistinguishable from a missing one."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from jobs.core.selectors import parse_id
from jobs.models import WebhookDelivery, WebhookEndpoint


def endpoints_for_user(*, user: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=user).order_by("-created_at")


def endpoint_for_user(*, user: Any, endpoint_id: Any) -> WebhookEndpoint | None:
    oid = parse_id(endpoint_id)
    if oid is None or not getattr(user, "is_authenticated", False):
        return None
    endpoint = WebhookEndpoint.objects.filter(pk=oid).first()
    return endpoint if endpoint is not None and endpoint.user_id == user.pk else None


def deliveries_for_endpoint(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).order_by("-created_at")


def delivery_for_endpoint(*, endpoint: WebhookEndpoint, delivery_id: Any) -> WebhookDelivery | None:
    oid = parse_id(delivery_id)
    if oid is None:
        return None
    delivery = WebhookDelivery.objects.filter(pk=oid).select_related("endpoint").first()
    return delivery if delivery is not None and delivery.endpoint_id == endpoint.pk else None
