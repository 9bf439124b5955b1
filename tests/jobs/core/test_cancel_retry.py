from __future__ import annotations

import pytest
from bson import ObjectId

from jobs.models import BulkJob, GenerationJob, JobError
from progress import events
from tests.stack import wait_until, worker_here

pytestmark = pytest.mark.django_db

VALID = {"mode": "topic", "topic": "Tiny houses", "word_count": 300}


def test_cancelling_a_queued_job_ends_it_at_once(api):
    job_id = api.post("/api/jobs/", VALID, format="json").json()["id"]
    response = api.post(f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 202
    assert response.json()["status"] == "cancelled"
    evs = events.after(ObjectId(job_id), 0)
    assert [(e["seq"], e["type"]) for e in evs] == [(1, "progress"), (2, "progress"), (3, "complete")]
    assert evs[-1]["data"]["status"] == "cancelled"


def test_cancelling_a_finished_job_answers_409(api):
    job_id = api.post("/api/jobs/", VALID, format="json").json()["id"]
    GenerationJob.objects.filter(pk=ObjectId(job_id)).update(status="completed")
    response = api.post(f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 409
    assert "already completed" in response.json()["detail"]


def test_retrying_a_failed_job_queues_it_again_keeping_finished_stages(api):
    job_id = api.post("/api/jobs/", VALID, format="json").json()["id"]
    GenerationJob.objects.filter(pk=ObjectId(job_id)).update(
        status="failed",
        error=JobError(message="boom", stage="writing"),
        stage_outputs={"research": "brief"},
        attempts=3,
    )
    response = api.post(f"/api/jobs/{job_id}/retry/")
    assert response.status_code == 202
    job = GenerationJob.objects.get(pk=ObjectId(job_id))
    assert (job.status, job.error, job.attempts) == ("queued", None, 0)
    assert job.stage_outputs == {"research": "brief"}
    assert events.latest(job.pk)["data"]["status"] == "queued"


@pytest.mark.parametrize("status", ["queued", "processing", "completed"])
def test_retrying_a_job_that_is_not_failed_or_cancelled_answers_409(api, status):
    job_id = api.post("/api/jobs/", VALID, format="json").json()["id"]
    GenerationJob.objects.filter(pk=ObjectId(job_id)).update(status=status)
    assert api.post(f"/api/jobs/{job_id}/retry/").status_code == 409


def test_cancel_and_retry_of_someone_elses_job_look_missing(api, other_api):
    job_id = api.post("/api/jobs/", VALID, format="json").json()["id"]
    assert other_api.post(f"/api/jobs/{job_id}/cancel/").status_code == 404
    assert other_api.post(f"/api/jobs/{job_id}/retry/").status_code == 404
    assert other_api.post("/api/jobs/bad/retry/").status_code == 404
    assert GenerationJob.objects.get(pk=ObjectId(job_id)).status == "queued"


def test_batch_counters_follow_cancel_and_retry(api):
    bulk_id = api.post("/api/bulk-jobs/", {"items": [VALID, VALID]}, format="json").json()["id"]
    job = GenerationJob.objects.filter(bulk_job_id=ObjectId(bulk_id)).first()
    api.post(f"/api/jobs/{job.pk}/cancel/")
    assert BulkJob.objects.get(pk=ObjectId(bulk_id)).counts == {
        "queued": 1,
        "processing": 0,
        "completed": 0,
        "failed": 0,
        "cancelled": 1,
    }
    api.post(f"/api/jobs/{job.pk}/retry/")
    assert BulkJob.objects.get(pk=ObjectId(bulk_id)).counts["queued"] == 2


@pytest.mark.slow
def test_cancelling_a_running_job_stops_it_in_its_worker(api):
    # 40 tokens a second: left alone, the job would run for about a minute, past the wait below.
    job_id = api.post("/api/jobs/", {**VALID, "word_count": 800}, format="json").json()["id"]
    with worker_here(CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="40"):
        job = wait_until(
            lambda: GenerationJob.objects.filter(pk=ObjectId(job_id), progress__stage="research").first(),
            timeout=60,
            interval=0.1,
            what="the job to start",
        )
        assert api.post(f"/api/jobs/{job.pk}/cancel/").status_code == 202
        wait_until(
            lambda: GenerationJob.objects.get(pk=job.pk).status in ("cancelled", "completed", "failed"),
            timeout=45,
            interval=0.1,
            what="the job to end",
        )
    assert GenerationJob.objects.get(pk=job.pk).status == "cancelled"
    evs = events.after(job.pk, 0)
    assert evs[-1]["type"] == "complete" and evs[-1]["data"]["status"] == "cancelled"
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
