"""Webhook rules: registering endpoints, recording events as deliveries, and each delivery attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
import redis
from bson import ObjectId
from django.conf import settings
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from contentgen.errors import ApplicationError
from contentgen.redisconn import client
from jobs.models import TEST_EVENT, WebhookDelivery, WebhookEndpoint, WebhookEvent
from jobs.webhooks import network
from jobs.webhooks.metrics import WEBHOOK_DELIVERIES

logger = logging.getLogger(__name__)

WAKE_CHANNEL = "contentgen:webhooks"
SIGNATURE_HEADER = "X-Contentgen-Signature"
RETRY_WINDOW = timedelta(hours=24)
MAX_BACKOFF_SECONDS = 6 * 3600.0
CLAIM_SECONDS = 60.0
MAX_ATTEMPTS_KEPT = 50


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff_seconds(attempt: int) -> float:
    """Delay after failed attempt `attempt` (1-based): base, 2 x base, 4 x base ..., +-20% jitter."""
    base = float(settings.CONTENTGEN_WEBHOOK_BACKOFF_SECONDS)
    return min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def check_url(url: str) -> None:
    try:
        network.resolve(url)
    except network.UnsafeUrl as exc:
        raise ApplicationError(str(exc), extra={"url": [str(exc)]}) from exc


def _check_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown or not events:
        message = f"events must be a non-empty list of {', '.join(WebhookEvent.values)}."
        raise ApplicationError(message, extra={"events": [message]})
    return list(dict.fromkeys(events))


def endpoint_create(
    *, user: Any, url: str, events: Sequence[str], secret: str | None = None
) -> WebhookEndpoint:
    check_url(url)
    stamp = timezone.now()
    return WebhookEndpoint.objects.create(
        user=user,
        url=url,
        events=_check_events(events),
        secret=secret or f"whsec_{secrets.token_urlsafe(32)}",
        created_at=stamp,
        updated_at=stamp,
    )


def endpoint_update(
    *,
    endpoint: WebhookEndpoint,
    url: str | None = None,
    events: Sequence[str] | None = None,
    secret: str | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    if url is not None:
        check_url(url)
        endpoint.url = url
    if events is not None:
        endpoint.events = _check_events(events)
    if secret:
        endpoint.secret = secret
    if active is not None and active != endpoint.active:
        endpoint.active = active
        endpoint.disabled_reason = "" if active else "Disabled by its owner."
        endpoint.disabled_at = None if active else timezone.now()
    endpoint.updated_at = timezone.now()
    endpoint.save()
    return endpoint


def endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    WebhookDelivery.objects.filter(endpoint=endpoint).delete()
    endpoint.delete()


def notify() -> None:
    """Wake the workers' delivery loops so a first attempt goes out at once."""
    try:
        client().publish(WAKE_CHANNEL, b"1")
    except redis.RedisError as exc:  # the loops still find it on their next pass, within seconds
        logger.warning("could not wake webhook delivery: %s", exc)


def _body(*, delivery_id: Any, event_type: str, data: dict[str, Any], created: Any) -> str:
    payload = {"id": str(delivery_id), "type": event_type, "created": created, "data": data}
    return json.dumps(payload, cls=JSONEncoder, ensure_ascii=False, separators=(",", ":"))


def _new_delivery(endpoint: WebhookEndpoint, event_type: str, data: dict[str, Any]) -> WebhookDelivery:
    stamp = timezone.now()
    delivery = WebhookDelivery(
        endpoint=endpoint,
        event_type=event_type,
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=stamp,
        retry_from=stamp,
        created_at=stamp,
        updated_at=stamp,
    )
    # The id is the document's own, so it is known before the body that carries it is stored.
    delivery.pk = ObjectId()
    delivery.body = _body(delivery_id=delivery.pk, event_type=event_type, data=data, created=stamp)
    return delivery


def event_record(
    *, user_id: Any, event_type: str, data: Callable[[], dict[str, Any]]
) -> list[WebhookDelivery]:
    """One pending delivery per active endpoint of the user that subscribes to `event_type`.

    `data` builds the resource only when someone subscribes, so events nobody wants cost one query.
    """
    endpoints = list(
        WebhookEndpoint.objects.filter(user_id=user_id, active=True, events__contains=[event_type])
    )
    if not endpoints:
        return []
    resource = data()
    deliveries = [_new_delivery(endpoint, event_type, resource) for endpoint in endpoints]
    if deliveries:
        WebhookDelivery.objects.bulk_create(deliveries)
        notify()
    return deliveries


def endpoint_test(*, endpoint: WebhookEndpoint) -> WebhookDelivery:
    data = {"endpoint_id": str(endpoint.pk), "url": endpoint.url, "events": list(endpoint.events)}
    delivery = _new_delivery(endpoint, TEST_EVENT, data)
    delivery.save(force_insert=True)
    notify()
    return delivery


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a finished delivery again, same body (same id, so receivers can deduplicate), new 24 h window."""
    if delivery.status not in (WebhookDelivery.Status.FAILED, WebhookDelivery.Status.SUCCEEDED):
        raise ApplicationError(f"This delivery is {delivery.status}; it is being sent already.", status=409)
    stamp = timezone.now()
    won = WebhookDelivery.objects.filter(pk=delivery.pk, status=delivery.status).update(
        status=WebhookDelivery.Status.PENDING,
        next_attempt_at=stamp,
        retry_from=stamp,
        completed_at=None,
        updated_at=stamp,
    )
    if won != 1:
        raise ApplicationError("This delivery changed meanwhile; reload and try again.", status=409)
    delivery.refresh_from_db()
    notify()
    return delivery


# The workers' side. Claims are conditional updates, so any number of workers share the deliveries.


def delivery_claim(*, owner: str, limit: int) -> list[WebhookDelivery]:
    stamp = timezone.now()
    lease = stamp + timedelta(seconds=CLAIM_SECONDS)
    due = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=stamp)
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[: limit * 2]
    )
    # A worker that died mid-attempt: its claim expires and the delivery is tried again.
    stale = set(
        WebhookDelivery.objects.filter(
            status=WebhookDelivery.Status.DELIVERING, lease_expires_at__lt=stamp
        ).values_list("pk", flat=True)[:limit]
    )
    random.shuffle(due)
    won: list[Any] = []
    for pk in [*stale, *due]:
        if len(won) >= limit:
            break
        if pk in stale:
            qs = WebhookDelivery.objects.filter(
                pk=pk, status=WebhookDelivery.Status.DELIVERING, lease_expires_at__lt=stamp
            )
        else:
            qs = WebhookDelivery.objects.filter(
                pk=pk, status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=stamp
            )
        if (
            qs.update(status=WebhookDelivery.Status.DELIVERING, lease_owner=owner, lease_expires_at=lease)
            == 1
        ):
            won.append(pk)
    return list(WebhookDelivery.objects.filter(pk__in=won).select_related("endpoint"))


def next_due_in(*, default: float) -> float:
    """Seconds until the earliest pending delivery is due (bounded by `default`)."""
    first = (
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if first is None:
        return default
    return max(0.0, min(default, (first - timezone.now()).total_seconds()))


def _send(delivery: WebhookDelivery) -> tuple[int | None, str, bool]:
    """(status code, error, refused): refused means the address was not allowed and nothing was sent."""
    body = delivery.body.encode()
    headers = {
        SIGNATURE_HEADER: signature(secret=delivery.endpoint.secret, timestamp=int(time.time()), body=body),
        "X-Contentgen-Event": delivery.event_type,
        "X-Contentgen-Delivery": str(delivery.pk),
    }
    try:
        response = network.post(delivery.endpoint.url, body=body, headers=headers)
    except network.UnsafeUrl as exc:
        return None, str(exc), True
    except httpx.TimeoutException:
        return None, f"Timed out after {network.TIMEOUT_SECONDS:.0f} s.", False
    except httpx.HTTPError as exc:
        return None, f"{exc.__class__.__name__}: {exc}"[:300], False
    if 200 <= response.status_code < 300:
        return response.status_code, "", False
    return response.status_code, f"HTTP {response.status_code}: {response.excerpt}".strip()[:300], False


def delivery_attempt(*, delivery: WebhookDelivery, owner: str) -> str:
    """Send once and record the attempt. Returns the outcome: succeeded, retrying, failed or skipped."""
    endpoint = delivery.endpoint
    stamp = timezone.now()
    refused = False
    if not endpoint.active:
        status_code, error, duration_ms = (
            None,
            f"Not sent: the endpoint is disabled. {endpoint.disabled_reason}",
            0.0,
        )
    else:
        started = time.monotonic()
        status_code, error, refused = _send(delivery)
        duration_ms = round((time.monotonic() - started) * 1000, 1)
    number = delivery.attempt_count + 1
    next_at = None
    if not error:
        outcome, status = "succeeded", WebhookDelivery.Status.SUCCEEDED
    elif not endpoint.active or delivery.event_type == TEST_EVENT:
        outcome, status = ("skipped" if not endpoint.active else "failed"), WebhookDelivery.Status.FAILED
    else:
        deadline = delivery.retry_from + RETRY_WINDOW
        if stamp >= deadline:
            outcome, status = "failed", WebhookDelivery.Status.FAILED
        else:
            outcome, status = "retrying", WebhookDelivery.Status.PENDING
            next_at = min(deadline, stamp + timedelta(seconds=backoff_seconds(number)))
    if refused:
        outcome = "refused"
    record = {
        "at": stamp.isoformat(),
        "status_code": status_code,
        "duration_ms": duration_ms,
        "error": error,
        "next_attempt_at": next_at.isoformat() if next_at else None,
    }
    attempts = [*list(delivery.attempts or [])[-(MAX_ATTEMPTS_KEPT - 1) :], record]
    finished = status != WebhookDelivery.Status.PENDING
    won = WebhookDelivery.objects.filter(
        pk=delivery.pk, status=WebhookDelivery.Status.DELIVERING, lease_owner=owner
    ).update(
        status=status,
        attempts=attempts,
        attempt_count=number,
        next_attempt_at=next_at,
        lease_owner=None,
        lease_expires_at=None,
        updated_at=timezone.now(),
        completed_at=timezone.now() if finished else None,
    )
    if won != 1:
        logger.warning("webhook delivery %s: claim lost before its attempt was recorded", delivery.pk)
    WEBHOOK_DELIVERIES.labels(outcome).inc()
    if status == WebhookDelivery.Status.FAILED and endpoint.active and delivery.event_type != TEST_EVENT:
        endpoint_disable(
            endpoint=endpoint,
            reason=f"Deliveries kept failing for 24 hours (last error: {error}). "
            "Fix the receiver, then enable the endpoint again.",
        )
    logger.info(
        "webhook delivery %s to %s: %s (attempt %d, %s)",
        delivery.pk, endpoint.url, outcome, number, error or status_code,
    )  # fmt: skip
    return outcome


def endpoint_disable(*, endpoint: WebhookEndpoint, reason: str) -> None:
    stamp = timezone.now()
    WebhookEndpoint.objects.filter(pk=endpoint.pk, active=True).update(
        active=False, disabled_reason=reason[:500], disabled_at=stamp, updated_at=stamp
    )
    endpoint.active, endpoint.disabled_reason, endpoint.disabled_at = False, reason[:500], stamp
    logger.warning("webhook endpoint %s disabled: %s", endpoint.pk, reason)
