"""Which due deliveries a worker's senders take, fairly between users.

Oldest first across everyone let one user's backlog (or one user's receivers that always time out) take
every sender while another user's delivery waited behind it. Here the users with something due take turns,
oldest due first, one delivery per turn, and a user holds at most IN_FLIGHT_PER_USER deliveries in flight
across all workers: a slow or failing receiver costs its owner's deliveries time, no one else's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from contentgen import mongo
from jobs.models import WebhookDelivery, WebhookEndpoint

# A claim's lease. An attempt ends within its deadline (jobs.webhooks.services.ATTEMPT_SECONDS, 5 s), so
# only a worker that died mid-attempt leaves a claim to expire and its delivery to be taken again.
CLAIM_SECONDS = 60.0
IN_FLIGHT_PER_USER = 2
# Endpoints with something due looked at per pass, oldest due first.
ENDPOINTS_SCANNED = 1000

PENDING, DELIVERING = WebhookDelivery.Status.PENDING, WebhookDelivery.Status.DELIVERING


def _due_endpoints(stamp: datetime) -> list[Any]:
    """Endpoint ids with a due pending delivery, the endpoint with the oldest due first."""
    rows = mongo.collection(WebhookDelivery._meta.db_table).aggregate(
        [
            {"$match": {"status": PENDING.value, "next_attempt_at": {"$lte": stamp}}},
            {"$group": {"_id": "$endpoint_id", "due": {"$min": "$next_attempt_at"}}},
            {"$sort": {"due": 1}},
            {"$limit": ENDPOINTS_SCANNED},
        ]
    )
    return [row["_id"] for row in rows]


def _owners(endpoint_ids: set[Any]) -> dict[Any, Any]:
    if not endpoint_ids:
        return {}
    return {e.pk: e.user_id for e in WebhookEndpoint.objects.filter(pk__in=list(endpoint_ids)).only("user")}


def _turns(order: list[Any], owners: dict[Any, Any]) -> Iterator[tuple[Any, Any]]:
    """(user, endpoint) pairs: the users in turn, each user's endpoints in turn, oldest due first."""
    queues: dict[Any, list[Any]] = {}
    for endpoint_id in order:
        if endpoint_id in owners:
            queues.setdefault(owners[endpoint_id], []).append(endpoint_id)
    while queues:
        for user_id in list(queues):
            endpoints = queues[user_id]
            endpoint_id = endpoints.pop(0)
            endpoints.append(endpoint_id)
            yield user_id, endpoint_id


def _take(qs: Any, owner: str, lease: datetime) -> bool:
    return bool(qs.update(status=DELIVERING, lease_owner=owner, lease_expires_at=lease) == 1)


def claim(*, owner: str, limit: int) -> list[WebhookDelivery]:
    stamp = timezone.now()
    lease = stamp + timedelta(seconds=CLAIM_SECONDS)
    won: list[Any] = []
    # A worker that died mid-attempt: its claim expires and the delivery is tried again.
    for pk in WebhookDelivery.objects.filter(status=DELIVERING, lease_expires_at__lt=stamp).values_list(
        "pk", flat=True
    )[:limit]:
        if _take(
            WebhookDelivery.objects.filter(pk=pk, status=DELIVERING, lease_expires_at__lt=stamp), owner, lease
        ):
            won.append(pk)
    order = _due_endpoints(stamp)
    in_flight = list(
        WebhookDelivery.objects.filter(status=DELIVERING, lease_expires_at__gte=stamp).values_list(
            "endpoint_id", flat=True
        )
    )
    owners = _owners(set(order) | set(in_flight))
    busy = Counter(owners.get(endpoint_id) for endpoint_id in in_flight)
    candidates: dict[Any, list[Any]] = {}
    exhausted: set[Any] = set()
    known = sum(1 for endpoint_id in order if endpoint_id in owners)
    for user_id, endpoint_id in _turns(order, owners):
        if len(won) >= limit or len(exhausted) >= known:
            break
        if busy[user_id] >= IN_FLIGHT_PER_USER or endpoint_id in exhausted:
            exhausted.add(endpoint_id)
            continue
        if endpoint_id not in candidates:
            candidates[endpoint_id] = list(
                WebhookDelivery.objects.filter(
                    endpoint_id=endpoint_id, status=PENDING, next_attempt_at__lte=stamp
                )
                .order_by("next_attempt_at")
                .values_list("pk", flat=True)[:limit]
            )
        while candidates[endpoint_id]:
            pk = candidates[endpoint_id].pop(0)
            if _take(
                WebhookDelivery.objects.filter(pk=pk, status=PENDING, next_attempt_at__lte=stamp),
                owner,
                lease,
            ):
                won.append(pk)
                busy[user_id] += 1
                break
        else:
            exhausted.add(endpoint_id)
    return list(WebhookDelivery.objects.filter(pk__in=won).select_related("endpoint"))


def next_due_in(*, default: float) -> float:
    """Seconds until the earliest pending delivery is due (bounded by `default`)."""
    first = (
        WebhookDelivery.objects.filter(status=PENDING)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if first is None:
        return default
    return max(0.0, min(default, (first - timezone.now()).total_seconds()))
