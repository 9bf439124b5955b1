"""Batch cancel and retry-failed: the API, the counters, the batch's event log, and real workers."""

from __future__ import annotations

import pytest
from bson import ObjectId

from jobs.core import leases
from jobs.models import BulkJob, GenerationJob
from jobs.runtime.tracker import ProgressTracker
from progress import events
from tests.jobs.runtime.support import RESULT
from tests.stack import burst_here, wait_until, worker_here

pytestmark = pytest.mark.django_db

ITEM = {"mode": "topic", "topic": "Rain gardens", "word_count": 300}
FINAL = {"completed", "failed", "cancelled"}


def make_batch(api, n: int, **fields) -> BulkJob:
    response = api.post("/api/bulk-jobs/", {"items": [{**ITEM, **fields}] * n}, format="json")
    assert response.status_code == 201, response.json()
    return BulkJob.objects.get(pk=ObjectId(response.json()["id"]))


def members(bulk: BulkJob) -> list[GenerationJob]:
    return list(GenerationJob.objects.filter(bulk_job=bulk).order_by("created_at"))


def actual_counts(bulk: BulkJob) -> dict[str, int]:
    counts = dict.fromkeys(GenerationJob.Status.values, 0)
    for job in members(bulk):
        counts[job.status] += 1
    return counts


def bulk_log(bulk: BulkJob) -> list[dict]:
    return events.after(bulk.pk, 0)


def test_cancelling_a_queued_batch_ends_every_member_and_completes_the_batch(api):
    bulk = make_batch(api, 3)
    response = api.post(f"/api/bulk-jobs/{bulk.pk}/cancel/")
    assert response.status_code == 202
    body = response.json()
    assert body["counts"]["cancelled"] == 3 and body["counts"]["queued"] == 0
    assert {job["status"] for job in body["jobs"]} == {"cancelled"}
    assert BulkJob.objects.get(pk=bulk.pk).counts == actual_counts(bulk)
    for job in members(bulk):
        assert events.latest(job.pk)["type"] == "complete"
    log = bulk_log(bulk)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert log[-1]["type"] == "complete" and [e["type"] for e in log].count("complete") == 1


def test_cancelling_a_finished_batch_answers_409_and_changes_nothing(api):
    bulk = make_batch(api, 2)
    assert api.post(f"/api/bulk-jobs/{bulk.pk}/cancel/").status_code == 202
    before = len(bulk_log(bulk))
    response = api.post(f"/api/bulk-jobs/{bulk.pk}/cancel/")
    assert response.status_code == 409
    assert "nothing to cancel" in response.json()["detail"]
    assert len(bulk_log(bulk)) == before


def test_retry_failed_with_nothing_failed_answers_409(api):
    bulk = make_batch(api, 2)
    response = api.post(f"/api/bulk-jobs/{bulk.pk}/retry-failed/")
    assert response.status_code == 409
    assert "nothing to retry" in response.json()["detail"]
    assert actual_counts(bulk)["queued"] == 2


def test_someone_elses_batch_looks_missing(api, other_api):
    bulk = make_batch(api, 2)
    assert other_api.post(f"/api/bulk-jobs/{bulk.pk}/cancel/").status_code == 404
    assert other_api.post(f"/api/bulk-jobs/{bulk.pk}/retry-failed/").status_code == 404
    assert other_api.post("/api/bulk-jobs/not-an-id/cancel/").status_code == 404
    assert actual_counts(bulk)["queued"] == 2


def test_retry_failed_requeues_only_failed_and_cancelled_members_and_reopens_the_batch(api):
    bulk = make_batch(api, 3)
    # The batch ends as work ends: one member completed, one failed, one cancelled, then its `complete`.
    ended = []
    for end in (lambda tracker: tracker.complete(RESULT), lambda tracker: tracker.fail("The model refused", "seo")):
        job, _ = leases.job_claim(worker_id="w")
        end(ProgressTracker(job, worker_id="w", last_seq=events.last_seq(job.pk)))
        ended.append(job)
    first, second = ended
    (third,) = [job for job in members(bulk) if job.pk not in (first.pk, second.pk)]
    assert api.post(f"/api/jobs/{third.pk}/cancel/").status_code == 202
    GenerationJob.objects.filter(pk=second.pk).update(stage_outputs={"research": "brief"})
    finished = BulkJob.objects.get(pk=bulk.pk)
    assert finished.completed_at is not None
    assert [e["type"] for e in bulk_log(bulk)].count("complete") == 1

    response = api.post(f"/api/bulk-jobs/{bulk.pk}/retry-failed/")
    assert response.status_code == 202
    assert response.json()["counts"] == {
        "queued": 2,
        "processing": 0,
        "completed": 1,
        "failed": 0,
        "cancelled": 0,
    }
    stored = BulkJob.objects.get(pk=bulk.pk)
    assert stored.completed_at is None
    assert stored.counts == actual_counts(bulk)
    assert GenerationJob.objects.get(pk=first.pk).status == "completed"
    assert GenerationJob.objects.get(pk=second.pk).stage_outputs == {"research": "brief"}
    # Cancelling the reopened batch finishes it a second time, with a second `complete`.
    assert api.post(f"/api/bulk-jobs/{bulk.pk}/cancel/").status_code == 202
    log = bulk_log(bulk)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert [e["type"] for e in log].count("complete") == 2
    assert log[-1]["type"] == "complete" and log[-1]["data"]["counts"]["cancelled"] == 2


@pytest.mark.slow
def test_cancelling_a_batch_while_members_run_ends_every_member_with_exact_counts(api):
    # 40 tokens a second: each member would take the worker about a minute, far past the wait below.
    bulk = make_batch(api, 4, word_count=800)
    with worker_here(concurrency=2, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="40"):
        wait_until(
            lambda: (
                GenerationJob.objects.filter(
                    bulk_job=bulk, progress__stage__in=["research", "writing"]
                ).count()
                == 2
            ),
            timeout=60,
            interval=0.1,
            what="two members to run",
        )
        response = api.post(f"/api/bulk-jobs/{bulk.pk}/cancel/")
        assert response.status_code == 202
        wait_until(
            lambda: all(job.status in FINAL for job in members(bulk)),
            timeout=45,
            interval=0.1,
            what="every member to end",
        )
    stored = BulkJob.objects.get(pk=bulk.pk)
    # The two running members were stopped by the cancel, the two queued ones cancelled at once.
    assert stored.counts == actual_counts(bulk) == {**dict.fromkeys(GenerationJob.Status.values, 0), "cancelled": 4}
    assert stored.completed_at is not None
    log = bulk_log(bulk)
    assert [e["type"] for e in log].count("complete") == 1 and log[-1]["type"] == "complete"
    for job in members(bulk):
        last = events.latest(job.pk)
        assert last["type"] == "complete" and last["data"]["status"] == job.status


def stage_events(job: GenerationJob, after: int) -> set[str]:
    return {e["data"]["progress"]["stage"] for e in events.after(job.pk, after) if e["type"] == "progress"}


@pytest.mark.slow
def test_retry_failed_after_an_seo_failure_reruns_only_the_failed_members_from_seo(api):
    bulk = make_batch(api, 3)
    burst_here(timeout=90, CONTENTGEN_OFFLINE_FAIL_STAGE="seo")
    jobs = members(bulk)
    assert [(job.status, job.error.stage) for job in jobs] == [("failed", "seo")] * 3
    assert all(set(job.stage_outputs) == {"research", "writing"} for job in jobs)
    # One member is retried alone and completes, so the batch holds a completed member and two failed ones.
    assert api.post(f"/api/jobs/{jobs[0].pk}/retry/").status_code == 202
    burst_here(timeout=90)
    assert BulkJob.objects.get(pk=bulk.pk).counts == {
        "queued": 0,
        "processing": 0,
        "completed": 1,
        "failed": 2,
        "cancelled": 0,
    }
    done_seq = events.last_seq(jobs[0].pk)
    marks = {job.pk: events.last_seq(job.pk) for job in jobs[1:]}
    timings = {job.pk: GenerationJob.objects.get(pk=job.pk).stage_timings for job in jobs[1:]}

    response = api.post(f"/api/bulk-jobs/{bulk.pk}/retry-failed/")
    assert response.status_code == 202
    assert response.json()["counts"]["queued"] == 2
    burst_here(timeout=90)

    assert events.last_seq(jobs[0].pk) == done_seq
    for job in jobs[1:]:
        stored = GenerationJob.objects.get(pk=job.pk)
        assert stored.status == "completed" and stored.result is not None
        assert stage_events(stored, marks[job.pk]) <= {"queued", "seo", "completed"}
        for stage in ("research", "writing"):
            assert stored.stage_timings[stage] == timings[job.pk][stage]
    stored_bulk = BulkJob.objects.get(pk=bulk.pk)
    assert (
        stored_bulk.counts
        == actual_counts(bulk)
        == {
            "queued": 0,
            "processing": 0,
            "completed": 3,
            "failed": 0,
            "cancelled": 0,
        }
    )
    log = bulk_log(bulk)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    # Finished after the SEO failures, after the single retry, and after retry-failed.
    assert [e["type"] for e in log].count("complete") == 3 and log[-1]["type"] == "complete"


def test_the_batch_page_offers_cancel_with_a_confirmation_then_retry(api, user, client):
    bulk = make_batch(api, 2)
    client.force_login(user)
    page = client.get(f"/bulk/{bulk.pk}/").content.decode()
    assert f'hx-post="/api/bulk-jobs/{bulk.pk}/cancel/" hx-confirm=' in page
    assert "retry-failed" not in page
    api.post(f"/api/bulk-jobs/{bulk.pk}/cancel/")
    page = client.get(f"/bulk/{bulk.pk}/").content.decode()
    assert f'hx-post="/api/bulk-jobs/{bulk.pk}/retry-failed/"' in page
    assert "/cancel/" not in page
