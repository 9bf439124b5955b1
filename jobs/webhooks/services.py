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

import redis
from bson import ObjectId
from django.conf import settings
from django.utils import timezone
from rest_framework.utils.encoders import JSONEncoder

from contentgen import outbound, ratelimit
from contentgen.errors import ApplicationError, RateLimited
from contentgen.redisconn import client
from jobs.models import TEST_EVENT, WebhookDelivery, WebhookEndpoint, WebhookEvent
from jobs.webhooks import claiming
from jobs.webhooks.metrics import WEBHOOK_DELIVERIES

logger = logging.getLogger(__name__)

WAKE_CHANNEL = "contentgen:webhooks"
SIGNATURE_HEADER = "X-Contentgen-Signature"
RETRY_WINDOW = timedelta(hours=24)
MAX_BACKOFF_SECONDS = 6 * 3600.0
MAX_ATTEMPTS_KEPT = 50
# One deadline per attempt, from resolving the host to the answer's last byte (contentgen.outbound): a
# receiver that trickles its answer is cut off there, far inside the claim's lease (jobs.webhooks.claiming).
ATTEMPT_SECONDS = 5.0
MAX_RESPONSE_BYTES = 64 * 1024  # read for the excerpt an attempt keeps; the rest is never read
USER_AGENT = "contentgen-webhooks/1"
PRIVATE_HINT = " (CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE=1 allows others)"


def signature(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def backoff_seconds(attempt: int) -> float:
    """Delay after failed attempt `attempt` (1-based): base, 2 x base, 4 x base ..., +-20% jitter."""
    base = float(settings.CONTENTGEN_WEBHOOK_BACKOFF_SECONDS)
    return min(MAX_BACKOFF_SECONDS, base * 2 ** (attempt - 1)) * random.uniform(0.8, 1.2)


def _explained(error: outbound.OutboundError) -> str:
    return error.message + (PRIVATE_HINT if error.reason == "private" else "")


def check_url(url: str) -> None:
    try:
        outbound.check_url(url, allow_private=settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE)
    except outbound.OutboundError as exc:
        message = _explained(exc)
        raise ApplicationError(message, extra={"url": [message]}) from exc


def _charge_send(user_id: Any) -> None:
    """Test sends and redeliveries, which a user can repeat at will, against a per-user rate."""
    limit = int(settings.CONTENTGEN_RATE_WEBHOOK_SENDS_PER_MINUTE)
    wait = ratelimit.take(f"webhook-sends:{user_id}", amount=1, limit=limit, window=60)
    if wait:
        raise RateLimited(
            f"You can queue at most {limit} webhook test sends and redeliveries per minute. "
            f"Try again in {round(wait)} s.",
            retry_after=wait,
        )


def _check_events(events: Sequence[str]) -> list[str]:
    unknown = [e for e in events if e not in WebhookEvent.values]
    if unknown or not events:
        message = f"events must be a non-empty list of {', '.join(WebhookEvent.values)}."
        raise ApplicationError(message, extra={"events": [message]})
    return list(dict.fromkeys(events))


def endpoint_create(
    *, user: Any, url: str, events: Sequence[str], secret: str | None = None
) -> WebhookEndpoint:
    cap = int(settings.CONTENTGEN_WEBHOOK_MAX_ENDPOINTS)
    if cap and WebhookEndpoint.objects.filter(user=user).count() >= cap:
        raise ApplicationError(f"You can have at most {cap} webhook endpoints; delete one to add another.")
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
    _charge_send(endpoint.user_id)
    data = {"endpoint_id": str(endpoint.pk), "url": endpoint.url, "events": list(endpoint.events)}
    delivery = _new_delivery(endpoint, TEST_EVENT, data)
    delivery.save(force_insert=True)
    notify()
    return delivery


def delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a finished delivery again, same body (same id, so receivers can deduplicate), new 24 h window."""
    if delivery.status not in (WebhookDelivery.Status.FAILED, WebhookDelivery.Status.SUCCEEDED):
        raise ApplicationError(f"This delivery is {delivery.status}; it is being sent already.", status=409)
    _charge_send(delivery.endpoint.user_id)
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


# The workers' side (jobs.webhooks.delivery): claims are conditional updates, fair between users.


def delivery_claim(*, owner: str, limit: int) -> list[WebhookDelivery]:
    return claiming.claim(owner=owner, limit=limit)


def next_due_in(*, default: float) -> float:
    return claiming.next_due_in(default=default)


def _send(delivery: WebhookDelivery) -> tuple[int | None, str, bool]:
    """(status code, error, refused): refused means the address was not allowed and nothing was sent."""
    body = delivery.body.encode()
    headers = {
        SIGNATURE_HEADER: signature(secret=delivery.endpoint.secret, timestamp=int(time.time()), body=body),
        "X-Contentgen-Event": delivery.event_type,
        "X-Contentgen-Delivery": str(delivery.pk),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",
    }
    try:
        answer = outbound.fetch(
            delivery.endpoint.url,
            method="POST",
            headers=headers,
            body=body,
            deadline=ATTEMPT_SECONDS,
            max_bytes=MAX_RESPONSE_BYTES,
            truncate=True,
            allow_private=settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE,
        )
    except outbound.OutboundError as exc:
        return None, _explained(exc)[:300], exc.refused
    if 200 <= answer.status < 300:
        return answer.status, "", False
    excerpt = answer.body[:200].decode("utf-8", "replace")
    return answer.status, f"HTTP {answer.status}: {excerpt}".strip()[:300], False


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
