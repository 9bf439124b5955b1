"""Limits on what a user may start and send: each answers with a clear error and stores nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client

from contentgen import ratelimit
from jobs.core.validation import MAX_BATCH, MAX_KEYWORD, MAX_KEYWORDS, MAX_SOURCE_TEXT, MAX_TOPIC
from jobs.models import BulkJob, GenerationJob
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

VALID = {"mode": "topic", "topic": "Composting in small apartments", "word_count": 300}


def job_count(user) -> int:
    return GenerationJob.objects.filter(user=user).count()


@pytest.fixture
def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_sliding_window_counts_amounts_and_says_how_long_to_wait():
    key = f"test:{id(object())}"
    assert ratelimit.take(key, amount=2, limit=3, window=60) == 0
    assert ratelimit.take(key, amount=1, limit=3, window=60) == 0
    wait = ratelimit.take(key, amount=1, limit=3, window=60)
    assert 59 <= wait <= 60
    assert ratelimit.take(key, amount=4, limit=3, window=60) == 60
    assert ratelimit.take(key, amount=5, limit=0, window=60) == 0  # 0 = no limit


def test_api_job_creation_over_the_limit_answers_429_and_stores_nothing(api, user, settings):
    settings.CONTENTGEN_RATE_JOBS_PER_MINUTE = 3
    assert [api.post("/api/jobs/", VALID, format="json").status_code for _ in range(3)] == [201] * 3
    response = api.post("/api/jobs/", VALID, format="json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["detail"].startswith("You can start at most 3 jobs per minute. Try again in")
    assert job_count(user) == 3


def test_an_invalid_request_does_not_use_up_the_limit(api, user, settings):
    settings.CONTENTGEN_RATE_JOBS_PER_MINUTE = 1
    assert api.post("/api/jobs/", {"mode": "topic"}, format="json").status_code == 400
    assert api.post("/api/jobs/", VALID, format="json").status_code == 201


def test_pages_share_the_users_job_limit_and_show_the_message(api, user, logged_in, settings):
    settings.CONTENTGEN_RATE_JOBS_PER_MINUTE = 2
    assert api.post("/api/jobs/", VALID, format="json").status_code == 201
    assert logged_in.post("/jobs/new", VALID).status_code == 302
    page = logged_in.post("/jobs/new", VALID)
    assert page.status_code == 429 and "Retry-After" in page
    assert "You can start at most 2 jobs per minute" in page.content.decode()
    htmx = logged_in.post("/jobs/new", VALID, HTTP_HX_REQUEST="true")
    assert htmx.status_code == 429 and "You can start at most 2 jobs per minute" in htmx.content.decode()
    assert job_count(user) == 2


def test_batch_items_per_hour_are_limited_for_api_and_pages(api, user, logged_in, settings):
    settings.CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR = 5
    assert api.post("/api/bulk-jobs/", {"items": [VALID] * 3}, format="json").status_code == 201
    response = api.post("/api/bulk-jobs/", {"items": [VALID] * 3}, format="json")
    assert response.status_code == 429 and "Retry-After" in response
    assert "at most 5 batch items per hour; this batch has 3" in response.json()["detail"]
    page = logged_in.post("/bulk/new", {"topics": "a\nb\nc", "mode": "topic"})
    assert page.status_code == 429 and "at most 5 batch items per hour" in page.content.decode()
    assert BulkJob.objects.filter(user=user).count() == 1 and job_count(user) == 3


def test_retrying_a_cancelled_batch_is_charged_like_creating_it(api, user, settings):
    settings.CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR = 10
    bulk = api.post("/api/bulk-jobs/", {"items": [VALID] * 10}, format="json").json()
    assert api.post(f"/api/bulk-jobs/{bulk['id']}/cancel/").status_code == 202
    response = api.post(f"/api/bulk-jobs/{bulk['id']}/retry-failed/")
    assert response.status_code == 429 and "Retry-After" in response
    assert "at most 10 batch items per hour" in response.json()["detail"]
    assert GenerationJob.objects.filter(bulk_job_id=bulk["id"], status="cancelled").count() == 10


def test_a_500_item_batch_at_every_fields_maximum_is_accepted(api, user):
    item = {
        "mode": "spin",
        "topic": "t" * MAX_TOPIC,
        "keywords": [f"{n:02d}" + "k" * (MAX_KEYWORD - 2) for n in range(MAX_KEYWORDS)],
        "source_text": "s" * MAX_SOURCE_TEXT,
        "word_count": 5000,
        "tone": "conversational",
    }
    body = json.dumps({"items": [item] * MAX_BATCH})
    assert len(body) > 25_000_000
    response = api.post("/api/bulk-jobs/", data=body, content_type="application/json")
    assert response.status_code == 201, response.content[:300]
    assert response.json()["total"] == MAX_BATCH


def test_a_body_over_the_limit_answers_413_with_a_message(api, user, settings):
    body = b'{"items": [' + b" " * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b"]}"
    response = api.post("/api/bulk-jobs/", data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["detail"] == "The request body is larger than 32 MiB."
    assert BulkJob.objects.filter(user=user).count() == 0


def csv_upload(content: bytes) -> io.BytesIO:
    upload = io.BytesIO(content)
    upload.name = "batch.csv"
    return upload


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"mode,topic\n" + b"topic,x\n" * (2 * 1024 * 1024 // 8 + 1), "The CSV file is larger than 2 MB."),
        (b"mode,topic\n" + b"".join(b"topic,T%d\n" % n for n in range(MAX_BATCH + 1)), "more than 500 articles"),
        (b'mode,topic\ntopic,"' + b"x" * (128 * 1024 + 1) + b'"\n', "A field in the CSV file is larger than 128 KiB."),
        (b"mode,topic\ntopic,\xff\xfe caf\xe9\n", "The CSV file must be UTF-8 text."),
        (b"mode,topic\ntopic," + b"x" * (MAX_TOPIC + 1) + b"\n", "Row 2: topic: topic must be at most 300 characters."),
        (b"mode,topic,word_count\r\n", "The CSV file has a header but no articles."),
    ],
    ids=["over-2MB", "too-many-rows", "field-over-128KiB", "not-utf8", "field-too-long", "header-only"],
)
def test_bad_csv_uploads_answer_400_with_a_message_and_store_nothing(logged_in, user, content, message):
    response = logged_in.post("/bulk/new", {"csv_file": csv_upload(content), "mode": "topic"})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert BulkJob.objects.filter(user=user).count() == 0 and job_count(user) == 0


def test_login_is_locked_after_five_failures(db):
    user = UserFactory()
    client = Client()
    codes = [
        client.post("/accounts/login/", {"username": user.username, "password": "wrong"}).status_code
        for _ in range(5)
    ]
    assert codes == [200, 200, 200, 200, 429]
    locked = client.post("/accounts/login/", {"username": user.username, "password": "correct-horse-battery"})
    assert locked.status_code == 429
    assert "Too many sign-in attempts" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    other = UserFactory()
    assert client.post("/accounts/login/", {"username": other.username, "password": "correct-horse-battery"}).status_code == 302


@pytest.fixture
def redis_down(settings):
    """This process's Redis address points where nothing listens, for the limits' own client."""
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    ratelimit._client.cache_clear()
    yield
    ratelimit._client.cache_clear()


def test_job_requests_are_let_through_while_redis_is_down(api, user, settings, redis_down):
    """As documented (contentgen/ratelimit.py): refusing all work because a counter is unreachable would be
    worse than not counting."""
    settings.CONTENTGEN_RATE_JOBS_PER_MINUTE = 1
    assert [api.post("/api/jobs/", VALID, format="json").status_code for _ in range(3)] == [201] * 3
    assert job_count(user) == 3


class Clock:
    """time.time for the limits (contentgen.ratelimit), moved by hand."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def time(self) -> float:
        return self.now


def test_a_full_window_lets_jobs_through_again_once_it_has_passed(api, user, settings, monkeypatch):
    settings.CONTENTGEN_RATE_JOBS_PER_MINUTE = 2
    clock = Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    assert [api.post("/api/jobs/", VALID, format="json").status_code for _ in range(2)] == [201, 201]
    clock.now += 59
    refused = api.post("/api/jobs/", VALID, format="json")
    assert refused.status_code == 429 and int(refused["Retry-After"]) == 1
    clock.now += 1.5  # the first two are now more than a minute old: a full window again, counted again
    assert [api.post("/api/jobs/", VALID, format="json").status_code for _ in range(3)] == [201, 201, 429]
    assert job_count(user) == 4
