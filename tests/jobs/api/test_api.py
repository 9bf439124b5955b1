from __future__ import annotations

import json

import pytest
from bson import ObjectId

from jobs.models import BulkJob, GenerationJob
from progress.models import ProgressEvent
from tests.factories import a_result

pytestmark = pytest.mark.django_db


def nothing_stored() -> bool:
    """No job or batch: every database test starts with none (tests/conftest.py checks it, and names the
    test before when one was left behind)."""
    return not GenerationJob.objects.exists() and not BulkJob.objects.exists()


VALID = {"mode": "topic", "topic": "Composting in small apartments"}


def test_create_job_stores_a_queued_job_with_defaults(api):
    response = api.post("/api/jobs/", VALID, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued"
    assert body["word_count"] == 1000
    assert body["tone"] == "professional"
    assert body["progress"]["stage"] == "queued"
    assert body["progress"]["percentage"] == 0
    assert GenerationJob.objects.filter(pk=ObjectId(body["id"])).exists()


def test_create_job_records_event_one(api):
    body = api.post("/api/jobs/", VALID, format="json").json()
    events = list(ProgressEvent.objects.filter(job_id=ObjectId(body["id"])))
    assert [(e.seq, e.type) for e in events] == [(1, "progress")]
    assert events[0].data["status"] == "queued"


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        ({"mode": "poem", "topic": "x"}, "mode", "mode must be one of"),
        ({"topic": "x"}, "mode", "required"),
        ({"mode": "topic"}, "topic", "topic is required"),
        ({"mode": "trends"}, "topic", "topic is required"),
        ({"mode": "topic", "topic": "x" * 301}, "topic", "at most 300"),
        ({"mode": "topic", "topic": {"$gt": ""}}, "topic", "Must be a string"),
        ({"mode": "topic", "topic": 42}, "topic", "Must be a string"),
        ({"mode": "keywords"}, "keywords", "1 to 20"),
        ({"mode": "keywords", "keywords": []}, "keywords", "1 to 20"),
        ({"mode": "keywords", "keywords": "seo"}, "keywords", "list"),
        ({"mode": "keywords", "keywords": [f"k{i}" for i in range(21)]}, "keywords", "at most 20"),
        ({"mode": "keywords", "keywords": ["k" * 101]}, "keywords", "at most 100"),
        ({"mode": "keywords", "keywords": [{"$ne": 1}]}, "keywords", "Must be a string"),
        ({"mode": "spin"}, "source_text", "required for spin"),
        ({"mode": "spin", "source_text": "x" * 50_001}, "source_text", "at most 50,000"),
        ({**VALID, "word_count": 99}, "word_count", "between 100 and 5000"),
        ({**VALID, "word_count": 5001}, "word_count", "between 100 and 5000"),
        ({**VALID, "word_count": "many"}, "word_count", "whole number"),
        ({**VALID, "word_count": True}, "word_count", "whole number"),
        ({**VALID, "word_count": {"$gt": 1}}, "word_count", "whole number"),
        ({**VALID, "tone": "angry"}, "tone", "tone must be one of"),
    ],
)
def test_create_job_rejects_bad_input_per_field_and_stores_nothing(api, payload, field, message):
    response = api.post("/api/jobs/", payload, format="json")
    assert response.status_code == 400
    assert message in json.dumps(response.json()[field])
    assert nothing_stored()


def test_malformed_json_answers_400_and_stores_nothing(api):
    response = api.post("/api/jobs/", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "detail" in response.json()
    assert nothing_stored()


def test_a_json_list_body_answers_400(api):
    response = api.post("/api/jobs/", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400
    assert nothing_stored()


def test_anonymous_requests_are_refused(client):
    assert client.get("/api/jobs/").status_code in (401, 403)
    assert client.post("/api/jobs/", VALID, content_type="application/json").status_code in (401, 403)
    assert nothing_stored()


def test_another_users_job_looks_exactly_like_a_missing_one(api, other_api):
    job_id = api.post("/api/jobs/", VALID, format="json").json()["id"]
    foreign = other_api.get(f"/api/jobs/{job_id}/")
    missing = other_api.get(f"/api/jobs/{ObjectId()}/")
    malformed = other_api.get("/api/jobs/not-an-id/")
    assert foreign.status_code == missing.status_code == malformed.status_code == 404
    assert foreign.json() == missing.json() == malformed.json()
    assert api.get(f"/api/jobs/{job_id}/").status_code == 200


def test_list_is_paginated_and_only_shows_my_jobs(api, other_api):
    for i in range(23):
        api.post("/api/jobs/", {"mode": "topic", "topic": f"Topic {i}"}, format="json")
    other_api.post("/api/jobs/", VALID, format="json")
    page1 = api.get("/api/jobs/").json()
    assert page1["count"] == 23
    assert len(page1["results"]) == 20
    assert page1["next"] and page1["previous"] is None
    page2 = api.get(page1["next"]).json()
    assert len(page2["results"]) == 3
    assert other_api.get("/api/jobs/").json()["count"] == 1


def test_list_filters_by_status_and_batch(api):
    api.post("/api/jobs/", VALID, format="json")
    bulk = api.post("/api/bulk-jobs/", {"items": [VALID, VALID]}, format="json").json()
    GenerationJob.objects.filter(bulk_job_id=ObjectId(bulk["id"])).update(status="failed")
    assert api.get("/api/jobs/?status=queued").json()["count"] == 1
    assert api.get("/api/jobs/?status=failed").json()["count"] == 2
    assert api.get(f"/api/jobs/?bulk_job={bulk['id']}").json()["count"] == 2
    assert api.get("/api/jobs/?status=bogus").status_code == 400
    assert api.get("/api/jobs/?bulk_job=nope").status_code == 400


def test_bulk_create_merges_defaults_and_counts(api):
    payload = {
        "items": [{"topic": "A"}, {"topic": "B", "tone": "casual"}],
        "defaults": {"mode": "topic", "word_count": 300},
    }
    response = api.post("/api/bulk-jobs/", payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["total"] == 2
    assert body["counts"] == {"queued": 2, "processing": 0, "completed": 0, "failed": 0, "cancelled": 0}
    jobs = GenerationJob.objects.filter(bulk_job_id=ObjectId(body["id"])).order_by("created_at")
    assert [(j.word_count, j.tone) for j in jobs] == [(300, "professional"), (300, "casual")]
    assert api.get(f"/api/bulk-jobs/{body['id']}/").json()["jobs"][0]["status"] == "queued"


def test_bulk_with_a_bad_item_names_its_index_and_stores_nothing(api):
    payload = {"items": [VALID, {"mode": "topic"}, VALID]}
    response = api.post("/api/bulk-jobs/", payload, format="json")
    assert response.status_code == 400
    assert "topic" in response.json()["items"]["1"]
    assert nothing_stored()


@pytest.mark.parametrize("items", [[], [VALID] * 501, "x", None])
def test_bulk_size_and_shape_limits(api, items):
    response = api.post("/api/bulk-jobs/", {"items": items}, format="json")
    assert response.status_code == 400
    assert "items" in response.json()
    assert nothing_stored()


def test_bulk_of_another_user_is_404(api, other_api):
    bulk_id = api.post("/api/bulk-jobs/", {"items": [VALID]}, format="json").json()["id"]
    assert other_api.get(f"/api/bulk-jobs/{bulk_id}/").status_code == 404
    assert other_api.get("/api/bulk-jobs/zzz/").status_code == 404


def test_stored_document_uses_the_contract_field_names(api, raw_db, user):
    job_id = api.post("/api/jobs/", {**VALID, "keywords": ["compost"]}, format="json").json()["id"]
    doc = raw_db["generation_jobs"].find_one({"_id": ObjectId(job_id)})
    for name in (
        "_id",
        "userId",
        "bulk_job_id",
        "mode",
        "topic",
        "keywords",
        "word_count",
        "tone",
        "status",
        "progress",
        "created_at",
        "updated_at",
    ):
        assert name in doc, name
    assert doc["userId"] == user.pk
    assert doc["keywords"] == ["compost"]
    for name in (
        "percentage",
        "stage",
        "stage_progress",
        "message",
        "started_at",
        "completed_at",
        "estimated_completion",
        "elapsed_seconds",
    ):
        assert name in doc["progress"], name


def test_schema_and_docs_are_served_without_internet_assets(api):
    assert api.get("/api/schema/").status_code == 200
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn." not in docs.content and b"unpkg" not in docs.content


def test_a_completed_jobs_result_carries_its_seo_report(api, user):
    job = GenerationJob.objects.get(pk=api.post("/api/jobs/", {"mode": "topic", "topic": "Solar"}, format="json").json()["id"])
    verdict = {"id": "text_length", "group": "seo", "status": "ok", "score": 6, "message": "Add 90 words."}
    GenerationJob.objects.filter(pk=job.pk).update(
        status="completed", result=a_result(seo_report=[verdict], meta_derived=True)
    )
    result = api.get(f"/api/jobs/{job.pk}/").json()["result"]
    assert result["seo_report"] == [verdict]
    assert result["meta_derived"] is True
