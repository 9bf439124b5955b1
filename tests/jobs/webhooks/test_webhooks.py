from __future__ import annotations

import datetime as dt
import json
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from contentgen import outbound
from jobs.models import WebhookDelivery, WebhookEndpoint
from jobs.webhooks import delivery as delivery_loop
from jobs.webhooks import services
from tests.stack import worker_here
from tests.webhook_receiver import Receiver, verify

pytestmark = pytest.mark.django_db

EVENTS = ["job.completed", "job.failed", "job.cancelled", "bulk.completed"]


@pytest.fixture
def allow_private(settings):
    settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = True
    settings.CONTENTGEN_WEBHOOK_BACKOFF_SECONDS = 0.01
    return settings


def register(api, url, events=EVENTS, **extra):
    response = api.post("/api/webhooks/", {"url": url, "events": events, **extra}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def attempt_due(owner="test-worker"):
    """One pass of a worker's delivery loop, in this process: claim what is due and send it."""
    return [
        services.delivery_attempt(delivery=d, owner=owner)
        for d in services.delivery_claim(owner=owner, limit=10)
    ]


def test_register_generates_a_secret_shown_once(api, allow_private):
    body = register(api, "http://127.0.0.1:9/hook")
    assert body["secret"].startswith("whsec_") and len(body["secret"]) > 30
    assert body["active"] is True and body["events"] == EVENTS
    shown = api.get(f"/api/webhooks/{body['id']}/").json()
    assert "secret" not in shown
    assert [e["id"] for e in api.get("/api/webhooks/").json()] == [body["id"]]


def test_patch_and_delete(api, allow_private):
    body = register(api, "http://127.0.0.1:9/hook", secret="a-secret-of-my-own-choosing")
    assert WebhookEndpoint.objects.get(pk=body["id"]).secret == "a-secret-of-my-own-choosing"
    patched = api.patch(f"/api/webhooks/{body['id']}/", {"events": ["job.failed"]}, format="json")
    assert patched.status_code == 200 and patched.json()["events"] == ["job.failed"]
    assert api.delete(f"/api/webhooks/{body['id']}/").status_code == 204
    assert api.get(f"/api/webhooks/{body['id']}/").status_code == 404


def test_bad_input_answers_400_per_field_and_stores_nothing(api, allow_private):
    response = api.post(
        "/api/webhooks/", {"url": "ftp://example.com/x", "events": ["job.exploded"]}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"url", "events"}
    assert (
        api.post("/api/webhooks/", {"url": "http://127.0.0.1:9/", "events": []}, format="json").status_code
        == 400
    )
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_private_loopback_and_metadata_addresses_are_refused_at_registration(api, url):
    response = api.post("/api/webhooks/", {"url": url, "events": ["job.completed"]}, format="json")
    assert response.status_code == 400
    assert "public addresses only" in response.json()["url"][0]
    assert not WebhookEndpoint.objects.exists()


def test_private_addresses_are_refused_again_at_delivery(api, allow_private):
    with Receiver() as receiver:
        endpoint = register(api, receiver.url)
        api.post(f"/api/webhooks/{endpoint['id']}/test/")
        allow_private.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = False
        assert attempt_due() == ["refused"]
        assert receiver.received.empty()
    delivery = WebhookDelivery.objects.get()
    assert "public addresses only" in delivery.attempts[0]["error"]


def test_another_users_endpoints_answer_404(api, other_api, allow_private):
    endpoint = register(api, "http://127.0.0.1:9/hook")
    base = f"/api/webhooks/{endpoint['id']}/"
    assert other_api.get(base).status_code == 404
    assert other_api.patch(base, {"events": ["job.failed"]}, format="json").status_code == 404
    assert other_api.delete(base).status_code == 404
    assert other_api.post(base + "test/").status_code == 404
    assert other_api.get(base + "deliveries/").status_code == 404
    assert other_api.get("/api/webhooks/").json() == []
    assert other_api.get("/api/webhooks/000000000000000000000000/").status_code == 404
    assert WebhookEndpoint.objects.get(pk=endpoint["id"]).events == EVENTS


def test_a_test_delivery_is_signed_with_the_secret(api, allow_private):
    with Receiver() as receiver:
        endpoint = register(api, receiver.url)
        queued = api.post(f"/api/webhooks/{endpoint['id']}/test/")
        assert queued.status_code == 202 and queued.json()["status"] == "pending"
        assert attempt_due() == ["succeeded"]
        got = receiver.get()
    assert verify(endpoint["secret"], got.headers["X-Contentgen-Signature"], got.body)
    assert not verify("whsec_wrong", got.headers["X-Contentgen-Signature"], got.body)
    assert not verify(endpoint["secret"], got.headers["X-Contentgen-Signature"], got.body + b" ")
    payload = json.loads(got.body)
    assert payload["id"] == queued.json()["id"]
    assert payload["type"] == "webhook.test"
    assert payload["data"]["endpoint_id"] == endpoint["id"]


def test_a_cancelled_job_sends_the_job_as_the_api_returns_it(api, allow_private):
    with Receiver() as receiver:
        register(api, receiver.url, events=["job.cancelled"])
        job = api.post("/api/jobs/", {"mode": "topic", "topic": "Cancel me"}, format="json").json()
        assert api.post(f"/api/jobs/{job['id']}/cancel/").status_code == 202
        assert attempt_due() == ["succeeded"]
        payload = json.loads(receiver.get().body)
    assert payload["type"] == "job.cancelled"
    assert payload["data"] == api.get(f"/api/jobs/{job['id']}/").json()


def test_events_nobody_subscribes_to_create_no_delivery(api, allow_private):
    register(api, "http://127.0.0.1:9/hook", events=["job.completed"])
    job = api.post("/api/jobs/", {"mode": "topic", "topic": "Cancel me"}, format="json").json()
    api.post(f"/api/jobs/{job['id']}/cancel/")
    assert not WebhookDelivery.objects.exists()


def make_due() -> None:
    """The time to the next attempt passes (what the backoff set is checked first)."""
    WebhookDelivery.objects.filter(status="pending").update(next_attempt_at=timezone.now())


def test_500s_are_retried_after_the_backoff_and_every_attempt_recorded(api, allow_private, settings):
    settings.CONTENTGEN_WEBHOOK_BACKOFF_SECONDS = 60
    with Receiver(statuses=[500, 500]) as receiver:
        endpoint = register(api, receiver.url)
        api.post(f"/api/webhooks/{endpoint['id']}/test/")
        delivery = WebhookDelivery.objects.get()
        delivery.event_type = "job.completed"  # test deliveries are tried once; real events are retried
        delivery.save()
        outcomes = []
        for _ in range(3):
            outcomes += attempt_due()
            assert attempt_due() == [], "an attempt went out again before its backoff"
            make_due()
    assert outcomes == ["retrying", "retrying", "succeeded"]
    delivery.refresh_from_db()
    assert delivery.status == "succeeded" and delivery.attempt_count == 3
    assert [a["status_code"] for a in delivery.attempts] == [500, 500, 200]
    assert delivery.attempts[0]["error"].startswith("HTTP 500")
    # Each failed attempt set the next one 60 s, then 120 s later, give or take the 20 % jitter.
    for attempt, base in zip(delivery.attempts[:2], (60, 120), strict=True):
        after = dt.datetime.fromisoformat(attempt["next_attempt_at"]) - dt.datetime.fromisoformat(attempt["at"])
        assert base * 0.8 <= after.total_seconds() <= base * 1.2, after
    assert delivery.attempts[2]["next_attempt_at"] is None
    listed = api.get(f"/api/webhooks/{endpoint['id']}/deliveries/").json()["results"]
    assert [a["status_code"] for a in listed[0]["attempts"]] == [500, 500, 200]


def test_backoff_doubles_from_the_base_with_jitter(settings):
    settings.CONTENTGEN_WEBHOOK_BACKOFF_SECONDS = 10
    for attempt, base in [(1, 10), (2, 20), (3, 40), (6, 320)]:
        assert base * 0.8 <= services.backoff_seconds(attempt) <= base * 1.2


def test_an_endpoint_failing_for_24_hours_is_disabled_and_gets_nothing_more(api, allow_private):
    with Receiver(statuses=[500]) as receiver:
        endpoint = register(api, receiver.url, events=["job.cancelled"])
        job = api.post("/api/jobs/", {"mode": "topic", "topic": "One"}, format="json").json()
        api.post(f"/api/jobs/{job['id']}/cancel/")
        WebhookDelivery.objects.update(retry_from=timezone.now() - timedelta(hours=24, minutes=1))
        assert attempt_due() == ["failed"]
        shown = api.get(f"/api/webhooks/{endpoint['id']}/").json()
        assert shown["active"] is False
        assert "failing for 24 hours" in shown["disabled_reason"]
        second = api.post("/api/jobs/", {"mode": "topic", "topic": "Two"}, format="json").json()
        api.post(f"/api/jobs/{second['id']}/cancel/")
        assert WebhookDelivery.objects.count() == 1
        # Enabled again by its owner, and a manual redelivery of the failed one goes through.
        assert (
            api.patch(f"/api/webhooks/{endpoint['id']}/", {"active": True}, format="json").json()[
                "disabled_reason"
            ]
            == ""
        )
        failed = WebhookDelivery.objects.get()
        base = f"/api/webhooks/{endpoint['id']}/deliveries/{failed.pk}/"
        assert api.post(base + "redeliver/").status_code == 202
        assert api.post(base + "redeliver/").status_code == 409
        assert attempt_due() == ["succeeded"]
        assert json.loads(receiver.get().body)["id"] == str(failed.pk)
        assert json.loads(receiver.get().body)["id"] == str(failed.pk)


def test_forbidden_addresses():
    assert not outbound.allowed("127.0.0.1") and not outbound.allowed("::ffff:10.0.0.1")
    assert not outbound.allowed("169.254.169.254") and not outbound.allowed("fd00:ec2::254")
    assert outbound.allowed("93.184.215.14")


@pytest.mark.slow
def test_a_worker_sends_a_signed_job_completed_as_soon_as_it_is_recorded(api, allow_private, monkeypatch):
    # With no notification the delivery loop would sleep for ten minutes: only the wake-up can send it.
    monkeypatch.setattr(delivery_loop, "IDLE_MAX", 600.0)
    with Receiver() as receiver, worker_here():
        endpoint = register(api, receiver.url, events=["job.completed"])
        job = api.post("/api/jobs/", {"mode": "topic", "topic": "Hooks", "word_count": 100}, format="json").json()
        got = receiver.get(timeout=90)
    assert verify(endpoint["secret"], got.headers["X-Contentgen-Signature"], got.body)
    payload = json.loads(got.body)
    assert payload["type"] == "job.completed"
    assert payload["data"] == api.get(f"/api/jobs/{job['id']}/").json()


def test_the_readme_verification_accepts_our_signature_and_refuses_tampering_and_replays():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    code = next(block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verify" in block)
    assert len(code.strip().splitlines()) <= 10
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 - the README's own snippet, run as a reader would
    verify = namespace["verify"]
    body = b'{"id": "1", "type": "job.completed"}'
    header = services.signature(secret="whsec_test", timestamp=int(time.time()), body=body)
    assert verify("whsec_test", header, body)
    assert not verify("whsec_test", header, body + b" ")
    assert not verify("whsec_other", header, body)
    old = services.signature(secret="whsec_test", timestamp=int(time.time()) - 3600, body=body)
    assert not verify("whsec_test", old, body)
