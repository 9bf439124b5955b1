"""Control characters (ESC, BEL, C1 ...) are refused in every text a user sends, with a 400 naming the field:
stored, they could rewrite an operator's terminal or fake rows in `manage.py jobs ls`."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from jobs.models import BulkJob, GenerationJob, WebhookEndpoint

pytestmark = pytest.mark.django_db

ESC = "\x1b]0;pwned\x07\x1b[2J"
JOB = {"mode": "topic", "topic": "Heat pumps", "word_count": 300}


@pytest.fixture
def allow_private(settings):
    settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = True


def errors_at(body, path):
    for key in path:
        body = body[key]
    return body


@pytest.mark.parametrize(
    ("url", "body", "path"),
    [
        ("/api/jobs/", {**JOB, "topic": f"Heat {ESC}pumps"}, ["topic"]),
        ("/api/jobs/", {**JOB, "topic": "Heat\rpumps"}, ["topic"]),
        ("/api/jobs/", {**JOB, "topic": "Heat\x85pumps"}, ["topic"]),
        ("/api/jobs/", {"mode": "keywords", "keywords": ["ok", f"bad{ESC}"]}, ["keywords", "1"]),
        ("/api/jobs/", {"mode": "spin", "source_text": f"Solar panels{ESC} cut bills."}, ["source_text"]),
        ("/api/bulk-jobs/", {"items": [JOB, {**JOB, "topic": f"x{ESC}"}]}, ["items", "1", "topic"]),
        ("/api/bulk-jobs/", {"items": [JOB], "defaults": {"topic": f"x{ESC}"}}, ["defaults", "topic"]),
        ("/api/webhooks/", {"url": "http://127.0.0.1:9/h\x1bx", "events": ["job.failed"]}, ["url"]),
        (
            "/api/webhooks/",
            {"url": "http://127.0.0.1:9/h", "events": ["job.failed"], "secret": f"sixteen-chars-{ESC}"},
            ["secret"],
        ),
    ],
)
def test_control_characters_in_a_text_field_answer_400_naming_it(api, allow_private, url, body, path):
    response = api.post(url, body, format="json")
    assert response.status_code == 400, response.json()
    messages = errors_at(response.json(), path)
    assert any("control character" in str(message) for message in messages), response.json()
    assert not GenerationJob.objects.exists() and not BulkJob.objects.exists()
    assert not WebhookEndpoint.objects.exists()


def test_tab_newline_and_a_textareas_crlf_are_ordinary_text(api):
    spin = {"mode": "spin", "source_text": "Solar panels cut bills.\r\nThey need\tsun."}
    assert api.post("/api/jobs/", spin, format="json").status_code == 201
    assert api.post("/api/jobs/", {**JOB, "topic": "Heat pumps\tand\nheat"}, format="json").status_code == 201


def test_a_control_character_in_the_search_filter_answers_400_naming_it(api):
    response = api.get("/api/jobs/", {"q": f"heat{ESC}"})
    assert response.status_code == 400
    assert "control character" in response.json()["q"][0]


def test_a_control_character_in_a_csv_cell_is_refused_naming_its_row_and_field(user):
    client = Client()
    client.force_login(user)
    upload = io.BytesIO(f"mode,topic\ntopic,Fine\ntopic,Bad {ESC}\n".encode())
    upload.name = "batch.csv"
    response = client.post("/bulk/new", {"mode": "topic", "csv_file": upload})
    assert response.status_code == 400
    assert "Row 3: topic:" in response.content.decode() and "control character" in response.content.decode()
    assert not BulkJob.objects.exists()
