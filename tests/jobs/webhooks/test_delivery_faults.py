"""How deliveries meet failing receivers: the backoff between attempts, refused connections, timeouts, endless
answers, and a claim left by a worker that died. Real sockets on loopback, the delivery code in this process."""

from __future__ import annotations

import datetime as dt
import socket
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from jobs.models import WebhookDelivery
from jobs.webhooks import services
from tests.stack import wait_until
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def allow_loopback(settings: Any) -> None:
    settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = True


def queued_event(api: Any, url: str) -> WebhookDelivery:
    """A job.cancelled delivery to `url` (a real event: retried, unlike a test delivery)."""
    response = api.post("/api/webhooks/", {"url": url, "events": ["job.cancelled"]}, format="json")
    assert response.status_code == 201, response.json()
    job = api.post("/api/jobs/", {"mode": "topic", "topic": "Hooks"}, format="json").json()
    assert api.post(f"/api/jobs/{job['id']}/cancel/").status_code == 202
    return WebhookDelivery.objects.get()


def attempt_due(owner: str = "test-worker") -> list[str]:
    return [services.delivery_attempt(delivery=d, owner=owner) for d in services.delivery_claim(owner=owner, limit=10)]


def at(attempt: dict[str, Any], field: str = "at") -> dt.datetime:
    return dt.datetime.fromisoformat(attempt[field])


def assert_failed_and_retried(delivery: WebhookDelivery) -> None:
    """One failed attempt, recorded without a status code, and the next one set after the backoff."""
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempt_count == 1
    (attempt,) = delivery.attempts
    assert attempt["status_code"] is None and attempt["error"]
    assert at(attempt, "next_attempt_at") > at(attempt)
    assert services.delivery_claim(owner="too-early", limit=10) == []


def test_the_backoff_holds_each_retry_back_until_it_is_due(api, settings):
    settings.CONTENTGEN_WEBHOOK_BACKOFF_SECONDS = 1
    outcomes: list[str] = []
    with Receiver(statuses=[500, 500, 200]) as receiver:
        delivery = queued_event(api, receiver.url)
        # A worker that asks for due deliveries every 20 ms, far more often than the backoff.
        wait_until(
            lambda: outcomes.extend(attempt_due()) or "succeeded" in outcomes,
            timeout=30,
            interval=0.02,
            what="the third attempt to succeed",
        )
        got = [receiver.get() for _ in range(3)]
    assert outcomes == ["retrying", "retrying", "succeeded"]
    delivery.refresh_from_db()
    # Each retry went out no sooner than its attempt's time plus the backoff (1 s, then 2 s, less 20 % jitter).
    for failed, retry, base in zip(delivery.attempts[:2], got[1:], (1.0, 2.0), strict=True):
        assert retry.at >= at(failed).timestamp() + 0.8 * base, (failed, retry.at)


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_connection_is_a_failed_attempt_retried_later(api):
    delivery = queued_event(api, f"http://127.0.0.1:{closed_port()}/hook")
    assert attempt_due() == ["retrying"]
    assert_failed_and_retried(delivery)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections, reads nothing, answers nothing, until the test ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    done = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not done.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        done.set()
        thread.join(5)
        for conn in held:
            conn.close()
        sock.close()


@pytest.mark.slow
def test_a_receiver_that_never_answers_is_a_failed_attempt_retried_later(api, silent_server):
    delivery = queued_event(api, silent_server)
    assert attempt_due() == ["retrying"]  # after the sender's own timeout
    assert_failed_and_retried(delivery)


@pytest.fixture
def endless_answer() -> Iterator[tuple[str, list[int]]]:
    """Answers 500 with a body announced as 10 MB, sends 256 KiB of it, then waits until the test ends."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sent: list[int] = []
    done = threading.Event()

    def serve() -> None:
        conn, _ = sock.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 10000000\r\n\r\n")
            chunk = b"x" * 4096
            try:
                for _ in range(64):
                    conn.sendall(chunk)
                    sent.append(len(chunk))
            except OSError:  # the sender hung up at its cap, as it should: what was sent is counted
                return
            done.wait(60)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook", sent
    finally:
        done.set()
        thread.join(5)
        sock.close()


def test_an_endless_answer_is_read_to_64_kib_and_recorded_with_its_status(api, endless_answer):
    url, sent = endless_answer
    delivery = queued_event(api, url)
    # The sender stops reading at 64 KiB: it records the 500 instead of waiting out the rest of 10 MB.
    assert attempt_due() == ["retrying"]
    delivery.refresh_from_db()
    (attempt,) = delivery.attempts
    assert attempt["status_code"] == 500 and attempt["error"].startswith("HTTP 500: xxx")
    assert len(attempt["error"]) <= 300
    assert sum(sent) > 64 * 1024  # more was on offer than the cap


def test_a_claim_left_by_a_dead_worker_is_taken_over_when_it_expires(api):
    with Receiver() as receiver:
        delivery = queued_event(api, receiver.url)
        (claimed,) = services.delivery_claim(owner="dead-worker", limit=10)
        assert services.delivery_claim(owner="alive", limit=10) == [], "a live claim was taken over"
        WebhookDelivery.objects.filter(pk=delivery.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
        assert attempt_due(owner="alive") == ["succeeded"]
        assert receiver.get().path == "/hook"
        # The dead worker, back after all, cannot record an attempt over the new owner's.
        services.delivery_attempt(delivery=claimed, owner="dead-worker")
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempt_count, delivery.lease_owner) == ("succeeded", 1, None)
