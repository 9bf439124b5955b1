"""`POST /api/seo/analyze/`: any draft's SEO report, the same verdicts a job's SEO stage makes, no job."""

from __future__ import annotations

import pytest

from jobs.models import GenerationJob
from jobs.pipeline.seo import analyze

pytestmark = pytest.mark.django_db

URL = "/api/seo/analyze/"
DRAFT = {
    "content": "# Bike commuting for beginners\n\nBike commuting saves money and time. "
    "Start with one day a week.\n\n## Gear\n\nA lock, lights and a rain jacket cover most days.\n",
    "meta_title": "Bike commuting for beginners: a calm start",
    "meta_description": "Bike commuting made simple: the gear you need and a plan for your first week.",
    "keyphrase": "bike commuting",
}


def test_a_draft_gets_the_analyzers_scores_and_verdicts_and_no_job_is_made(api, user):
    response = api.post(URL, {**DRAFT, "synonyms": ["cycling to work"]}, format="json")
    assert response.status_code == 200
    report = analyze(**DRAFT, synonyms=["cycling to work"])
    assert response.json() == {
        "seo_score": report.seo_score,
        "readability_score": report.readability_score,
        "checks": report.as_dicts(),
    }
    assert not GenerationJob.objects.filter(user=user).exists()


def test_content_over_100000_characters_answers_400_saying_how_long_it_is(api):
    response = api.post(URL, {**DRAFT, "content": "word " * 20_001}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "content": ["content has 100,005 characters; the analyzer takes at most 100,000."]
    }


def test_a_missing_field_or_an_unknown_one_answers_400_naming_it(api):
    missing = api.post(URL, {key: value for key, value in DRAFT.items() if key != "keyphrase"}, format="json")
    assert missing.status_code == 400 and "keyphrase" in missing.json()
    unknown = api.post(URL, {**DRAFT, "target": 3}, format="json")
    assert unknown.status_code == 400
    assert unknown.json()["non_field_errors"][0].startswith("Unknown field(s): target.")


def test_a_blank_draft_is_analysed_not_refused(api):
    response = api.post(URL, {"content": "", "meta_title": "", "meta_description": "", "keyphrase": ""}, format="json")
    assert response.status_code == 200
    assert response.json()["readability_score"] == 0.0


def test_analyses_over_the_rate_answer_429_and_leave_job_creation_alone(api, settings):
    settings.CONTENTGEN_RATE_JOBS_PER_MINUTE = 2
    assert [api.post(URL, DRAFT, format="json").status_code for _ in range(2)] == [200, 200]
    response = api.post(URL, DRAFT, format="json")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["detail"].startswith("You can analyse at most 2 drafts per minute.")
    job = {"mode": "topic", "topic": "Bike commuting", "word_count": 300}
    assert api.post("/api/jobs/", job, format="json").status_code == 201


def test_anonymous_requests_are_refused(client):
    assert client.post(URL, DRAFT, content_type="application/json").status_code in (401, 403)


def test_the_schema_documents_the_endpoint(api):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/seo/analyze/"]["post"]
    assert set(operation["responses"]) >= {"200", "400", "429"}
    body = schema["components"]["schemas"]["SeoAnalyzeInput"]
    assert body["properties"]["content"]["maxLength"] == 100_000
    assert body["additionalProperties"] is False
    assert set(schema["components"]["schemas"]["SeoVerdictOutput"]["properties"]) == {
        "id", "group", "status", "score", "message"
    }  # fmt: skip


def test_a_control_character_answers_400_naming_the_field_and_a_crlf_draft_is_taken(api):
    response = api.post(URL, {**DRAFT, "keyphrase": "bike\x07commuting"}, format="json")
    assert response.status_code == 400
    assert response.json()["keyphrase"][0].startswith("keyphrase contains a control character (U+0007)")
    pasted = api.post(URL, {**DRAFT, "content": DRAFT["content"].replace("\n", "\r\n")}, format="json")
    assert pasted.status_code == 200
