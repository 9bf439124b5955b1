"""Event retention, and queued jobs' estimates moving with the queue."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from contentgen.redisconn import client
from jobs.core import events as job_events
from jobs.core import forecast, leases, services, workers
from jobs.models import BulkJob, GenerationJob
from jobs.runtime import retention
from progress import events
from tests.factories import BulkFactory, JobFactory, a_result, token_for
from tests.stack import asgi_get, iter_sse

pytestmark = pytest.mark.django_db

OLD = timezone.now() - dt.timedelta(days=45)
RECENT = timezone.now() - dt.timedelta(days=3)


def finished(job: GenerationJob, *, when: dt.datetime) -> GenerationJob:
    """A job that ran: a few progress events, then its `complete`, last changed at `when`."""
    job.status = "processing"
    for stage in ("research", "writing", "seo"):
        job.progress.stage = stage
        job_events.job_emit(job=job)
    job.status, job.result = "completed", a_result()
    job.progress.stage, job.progress.percentage = "completed", 100
    GenerationJob.objects.filter(pk=job.pk).update(
        status="completed", result=job.result, progress=job.progress, updated_at=when
    )
    job_events.job_emit(job=job, type="complete")
    return job


def log(stream_id) -> list[tuple[int, str]]:
    return [(e["seq"], e["type"]) for e in events.after(stream_id, 0)]


def test_logs_of_work_finished_before_the_retention_period_keep_only_their_final_event(user):
    old = finished(JobFactory(user=user), when=OLD)
    recent = finished(JobFactory(user=user), when=RECENT)
    stale_queued = JobFactory(user=user)
    GenerationJob.objects.filter(pk=stale_queued.pk).update(created_at=OLD, updated_at=OLD)
    bulk = BulkFactory(user=user, size=2)
    services.bulk_cancel(bulk=bulk)
    BulkJob.objects.filter(pk=bulk.pk).update(completed_at=OLD)
    bulk_before = log(bulk.pk)
    recent_before = log(recent.pk)

    removed = retention.prune_finished(before=retention.cutoff())

    assert log(old.pk) == [(5, "complete")]
    assert log(recent.pk) == recent_before
    assert log(stale_queued.pk) == [(1, "progress")]
    assert log(bulk.pk) == [bulk_before[-1]] and bulk_before[-1][1] == "complete"
    assert removed == 4 + len(bulk_before) - 1
    stored = GenerationJob.objects.get(pk=old.pk)
    assert stored.result is not None and stored.status == "completed"
    assert events.last_seq(old.pk) == 5


def test_one_worker_prunes_per_interval(user, settings):
    client().delete(retention.LOCK_KEY, retention.WATERMARK_KEY)
    job = finished(JobFactory(user=user), when=OLD)
    assert retention.maybe_prune() == 4
    assert retention.maybe_prune() is None
    assert client().get(retention.WATERMARK_KEY) is not None
    assert log(job.pk) == [(5, "complete")]


def test_a_stream_of_a_pruned_job_sends_its_final_state_and_ends(user):
    job = finished(JobFactory(user=user), when=OLD)
    retention.prune_finished(before=retention.cutoff())
    url = f"/api/jobs/{job.pk}/progress"
    auth = {"Authorization": f"Token {token_for(user)}"}
    for headers in (auth, {**auth, "Last-Event-ID": "2"}):
        response = asgi_get(url, headers)
        assert response.status_code == 200, response.text
        got = [item for item in iter_sse(response.text.splitlines()) if not isinstance(item, str)]
        assert [(e.id, e.event) for e in got] == [(5, "complete")]
        assert got[0].data["status"] == "completed" and got[0].data["result"]["seo_score"] == 70


@pytest.fixture
def live_worker():
    workers.beat(workers.new_beat(worker_id="test-worker", concurrency=1, lease_seconds=60), jobs=[])
    yield
    workers.forget("test-worker")


def test_claiming_a_job_gives_the_queued_jobs_fresh_estimates(user, live_worker, monkeypatch):
    jobs = [JobFactory(user=user) for _ in range(3)]
    far = timezone.now() + dt.timedelta(days=2)
    for job in jobs:
        job.progress.estimated_start = far
        GenerationJob.objects.filter(pk=job.pk).update(progress=job.progress)
    seqs = {job.pk: events.last_seq(job.pk) for job in jobs}
    monkeypatch.setattr(forecast, "refresh_throttle", forecast.Throttle(forecast.REFRESH_INTERVAL))

    claimed, _ = leases.job_claim(worker_id="test-worker")

    waiting = [GenerationJob.objects.get(pk=job.pk) for job in jobs if job.pk != claimed.pk]
    starts = [job.progress.estimated_start for job in waiting]
    assert all(start is not None and start < far - dt.timedelta(days=1) for start in starts)
    assert starts == sorted(starts)
    for job in waiting:
        latest = events.latest(job.pk)
        assert latest["seq"] == seqs[job.pk] + 1
        sent = dt.datetime.fromisoformat(latest["data"]["progress"]["estimated_start"])
        assert abs(sent - job.progress.estimated_start) < dt.timedelta(milliseconds=1)  # MongoDB keeps ms
    assert forecast.queue_refresh_estimates(force=True) == 0
