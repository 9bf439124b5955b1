"""Webhooks under abuse: slow receivers, floods of endpoints and sends, addresses that hide a private one."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import WebhookDelivery, WebhookEndpoint
from jobs.runtime import retention
from jobs.webhooks import services
from jobs.webhooks.delivery import DeliveryLoop
from tests.factories import UserFactory
from tests.webhook_receiver import Receiver, Trickler

pytestmark = pytest.mark.django_db

EVENTS = ["job.completed"]


@pytest.fixture
def allow_private(settings):
    settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = True
    return settings


def register(api, url, events=EVENTS):
    response = api.post("/api/webhooks/", {"url": url, "events": events}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def in_thread(target, *, timeout: float):
    """Run `target` in a thread; its result, or AssertionError if it is still running after `timeout`."""
    out: list = []
    thread = threading.Thread(target=lambda: out.append(target()), daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"still running after {timeout:.0f} s"
    return out[0]


# 1. Slow receivers --------------------------------------------------------------------------------


def test_a_trickling_receivers_delivery_fails_within_the_attempts_deadline(api, allow_private):
    with Trickler(every=1.0) as trickler:
        endpoint = register(api, trickler.url)
        api.post(f"/api/webhooks/{endpoint['id']}/test/")

        def attempt():
            return [
                services.delivery_attempt(delivery=d, owner="test")
                for d in services.delivery_claim(owner="test", limit=1)
            ]

        assert in_thread(attempt, timeout=30) == ["failed"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "failed"
    assert delivery.attempts[0]["duration_ms"] <= 10_000, delivery.attempts[0]
    assert "Timed out" in delivery.attempts[0]["error"]
    print(f"trickling receiver: duration_ms {delivery.attempts[0]['duration_ms']}")


def test_eight_trickling_deliveries_do_not_hold_up_another_users_delivery(api, other_api, allow_private):
    loop = DeliveryLoop(owner="fairness-test")
    try:
        with Trickler(every=1.0) as trickler, Receiver() as receiver:
            slow = register(api, trickler.url)
            for _ in range(8):
                api.post(f"/api/webhooks/{slow['id']}/test/")
            fast = register(other_api, receiver.url)
            sent = time.time()
            other_api.post(f"/api/webhooks/{fast['id']}/test/")
            loop.start()
            got = receiver.get(timeout=10)
    finally:
        loop.stop(timeout=30)  # after the receivers are gone: a sender still stuck on one is let go
    assert got.at - sent <= 10
    print(f"another user's delivery arrived {got.at - sent:.2f} s after it was queued")


# 2. Caps, fair claiming, retention --------------------------------------------------------------------


def test_the_21st_endpoint_of_a_user_is_refused_with_a_400(api, allow_private):
    for _ in range(20):
        register(api, "http://127.0.0.1:9/hook")
    response = api.post("/api/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": EVENTS}, format="json")
    assert response.status_code == 400
    assert "at most 20 webhook endpoints" in response.json()["detail"]
    assert WebhookEndpoint.objects.count() == 20


def test_the_101st_test_send_in_a_minute_answers_429(api, allow_private):
    endpoint = register(api, "http://127.0.0.1:9/hook")
    url = f"/api/webhooks/{endpoint['id']}/test/"
    assert {api.post(url).status_code for _ in range(100)} == {202}
    refused = api.post(url)
    assert refused.status_code == 429 and "Retry-After" in refused
    assert "test sends and redeliveries" in refused.json()["detail"]
    assert WebhookDelivery.objects.count() == 100


def test_redeliveries_share_the_test_sends_rate(api, allow_private, settings):
    settings.CONTENTGEN_RATE_WEBHOOK_SENDS_PER_MINUTE = 2
    endpoint = register(api, "http://127.0.0.1:9/hook")
    base = f"/api/webhooks/{endpoint['id']}/"
    assert api.post(base + "test/").status_code == 202
    WebhookDelivery.objects.update(status="failed", completed_at=timezone.now())
    delivery = WebhookDelivery.objects.get()
    assert api.post(f"{base}deliveries/{delivery.pk}/redeliver/").status_code == 202
    WebhookDelivery.objects.update(status="failed", completed_at=timezone.now())
    assert api.post(f"{base}deliveries/{delivery.pk}/redeliver/").status_code == 429


def due_deliveries(user, count):
    endpoint = WebhookEndpoint.objects.create(user=user, url="http://127.0.0.1:9/hook", events=EVENTS, secret="s" * 20)
    deliveries = [services._new_delivery(endpoint, "job.completed", {"n": n}) for n in range(count)]
    WebhookDelivery.objects.bulk_create(deliveries)
    return deliveries


def test_one_users_backlog_does_not_starve_another_users_delivery(db):
    due_deliveries(UserFactory(), 50)
    WebhookDelivery.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=5))
    (other,) = due_deliveries(UserFactory(), 1)
    claimed = services.delivery_claim(owner="test", limit=2)
    assert other.pk in {d.pk for d in claimed}


def test_finished_deliveries_are_pruned_after_the_retention_period(db, settings):
    settings.CONTENTGEN_EVENT_RETENTION_DAYS = 30
    old_done, old_failed, old_pending, recent = due_deliveries(UserFactory(), 4)
    long_ago = timezone.now() - timedelta(days=31)
    WebhookDelivery.objects.filter(pk__in=[old_done.pk, old_failed.pk]).update(
        status="succeeded", created_at=long_ago, completed_at=long_ago
    )
    WebhookDelivery.objects.filter(pk=old_failed.pk).update(status="failed")
    WebhookDelivery.objects.filter(pk=old_pending.pk).update(created_at=long_ago)
    WebhookDelivery.objects.filter(pk=recent.pk).update(status="succeeded", completed_at=timezone.now())
    retention.prune_finished(before=retention.cutoff())
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {old_pending.pk, recent.pk}


# 3. Addresses that hide a private one -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
        "http://[64:ff9b::5db8:d70e]/hook",  # NAT64 of a public address: translation is refused as such
        "http://[64:ff9b:1::a00:1]/hook",  # local-use NAT64
        "http://[2002:a00:1::1]/hook",  # 6to4 of 10.0.0.1
        "http://[::a9fe:a9fe]/hook",  # IPv4-compatible 169.254.169.254
        "http://[::ffff:7f00:1]/hook",  # IPv4-mapped loopback
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
    ],
)
def test_ipv6_addresses_that_carry_an_ipv4_one_are_refused(api, url):
    response = api.post("/api/webhooks/", {"url": url, "events": EVENTS}, format="json")
    assert response.status_code == 400, response.json()
    assert "public addresses only" in response.json()["url"][0]


def test_a_refusal_names_the_host_but_not_what_it_resolves_to(api):
    response = api.post("/api/webhooks/", {"url": "http://localhost/hook", "events": EVENTS}, format="json")
    assert response.status_code == 400
    message = response.json()["url"][0]
    assert "localhost resolves to a private address" in message
    assert "127.0.0.1" not in message and "::1" not in message
