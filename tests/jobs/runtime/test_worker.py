"""The worker as a real process: embedded MongoDB and Redis, the offline model, real crewAI."""

from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
from bson import ObjectId

from jobs.core.workers import live_worker_slots
from jobs.models import GenerationJob
from jobs.web.fragments import draft_text
from progress import events
from tests.factories import JobFactory
from tests.stack import burst_here, start_worker, wait_until

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

STAGES = {
    "topic": ["research", "writing", "seo"],
    "keywords": ["research", "writing", "seo"],
    "trends": ["research", "writing", "seo"],
    "spin": ["writing", "seo"],
}


def stored(job: GenerationJob) -> GenerationJob:
    return GenerationJob.objects.get(pk=job.pk)


def log(job: GenerationJob) -> list[dict]:
    return events.after(job.pk, 0)


def stage_sequence(evs: list[dict]) -> list[str]:
    seen: list[str] = []
    for ev in evs:
        stage = ev["data"]["progress"]["stage"]
        if stage in ("research", "writing", "seo") and (not seen or seen[-1] != stage):
            seen.append(stage)
    return seen


def test_every_mode_runs_end_to_end_with_ordered_contiguous_events(user):
    jobs = {mode: JobFactory(user=user, mode=mode) for mode in STAGES}
    burst_here(timeout=100)
    for mode, job in jobs.items():
        job = stored(job)
        assert job.status == "completed", (mode, job.error and job.error.message)
        evs = log(job)
        assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
        assert [e["type"] for e in evs][-1] == "complete" and [e["type"] for e in evs].count("complete") == 1
        percentages = [e["data"]["progress"]["percentage"] for e in evs]
        assert percentages == sorted(percentages), mode
        assert percentages[-1] == 100 and max(percentages[:-2]) < 100
        assert stage_sequence(evs) == STAGES[mode]
        result = job.result
        assert len(result.meta_title) <= 60 and len(result.meta_description) <= 160
        assert abs(result.word_count - 300) <= 60, result.word_count
        assert result.content.startswith("#")
        assert 0 <= result.seo_score <= 100
        assert job.progress.completed_at and job.progress.elapsed_seconds >= 0
        assert set(job.stage_outputs) == set(STAGES[mode])
        assert evs[-1]["data"]["result"]["content"] == result.content
        # The draft rides on progress events only, and the log rebuilds the writer's output from it.
        assert {e["type"] for e in evs if "draft" in e["data"]} == {"progress"}
        assert draft_text(evs).strip() == job.stage_outputs["writing"].strip()


@pytest.mark.parametrize("stage", ["research", "writing", "seo"])
def test_an_injected_failure_fails_the_job_in_that_stage(user, stage):
    job = JobFactory(user=user)
    burst_here(CONTENTGEN_OFFLINE_FAIL_STAGE=stage)
    job = stored(job)
    assert job.status == "failed"
    assert job.error.stage == stage
    assert stage in job.error.message
    evs = log(job)
    assert evs[-1]["type"] == "complete"
    assert evs[-1]["data"]["status"] == "failed"
    assert evs[-1]["data"]["error"]["stage"] == stage
    assert job.lease_owner is None


def test_a_missing_provider_key_fails_the_job_before_any_model_call_naming_the_key(user, settings):
    settings.CONTENTGEN_LLM = "openai/gpt-4o-mini"
    job = JobFactory(user=user)
    burst_here(OPENAI_API_KEY="")
    job = stored(job)
    assert (job.status, job.attempts, job.error.stage) == ("failed", 1, "research")
    assert job.error.message.startswith("OPENAI_API_KEY is not set: export it or set CONTENTGEN_LLM=offline")
    # Failed at the configuration check: research never moved, no model was called or retried.
    research = [e["data"]["progress"] for e in log(job) if e["data"]["progress"]["stage"] == "research"]
    assert research and {p["stage_progress"] for p in research} == {0}


def _wait_for_stage(job: GenerationJob, stage: str, timeout: float = 60) -> None:
    wait_until(
        lambda: stored(job).progress.stage == stage and stored(job).progress.stage_progress > 5,
        timeout=timeout,
        interval=0.1,
        what=f"job to be in {stage}",
    )


def test_a_killed_worker_is_taken_over_and_resumes_after_research(user, settings):
    job = JobFactory(user=user, word_count=600)
    lease = {"CONTENTGEN_WORKER_LEASE_SECONDS": "3", "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "150"}
    first = start_worker(**lease)
    try:
        _wait_for_stage(job, "writing")
    finally:
        first.kill()
    research_before = stored(job).stage_timings["research"]
    wait_until(
        lambda: stored(job).lease_expires_at.timestamp() < time.time(), timeout=30, what="lease expiry"
    )
    settings.CONTENTGEN_WORKER_LEASE_SECONDS = 3
    burst_here()  # the taking-over worker's process is not the point: it runs in this one
    job = stored(job)
    assert job.status == "completed"
    assert job.attempts == 2
    assert job.stage_timings["research"] == research_before
    evs = log(job)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    # Taken over by a claim ("Worker lost, retrying (attempt 2 of 3)"), or first put back in the queue by the
    # new worker's watch on leases ("Worker lost; back in the queue"): either way research is not run again.
    takeover = next(
        i for i, e in enumerate(evs) if e["data"]["progress"]["message"].startswith("Worker lost")
    )
    assert all(e["data"]["progress"]["stage"] != "research" for e in evs[takeover:])


def test_two_workers_share_20_jobs_and_run_each_exactly_once(user):
    tag = uuid.uuid4().hex[:8]
    workers = [start_worker(log=f"worker-share-{tag}-{n}") for n in range(2)]
    try:
        wait_until(lambda: live_worker_slots() == 2, timeout=30, what="both workers to announce themselves")
        jobs = [JobFactory(user=user, mode="trends", word_count=100) for _ in range(20)]
        wait_until(
            lambda: (
                GenerationJob.objects.filter(pk__in=[j.pk for j in jobs], status="completed").count() == 20
            ),
            timeout=90,
            interval=0.2,
            what="all 20 jobs to complete",
        )
    finally:
        codes = [w.terminate(timeout=30) for w in workers]
    assert codes == [0, 0]
    claims = [w.claimed() for w in workers]
    assert all(claims), f"one worker ran everything: {[len(c) for c in claims]}"
    assert sorted(claims[0] + claims[1]) == sorted(str(j.pk) for j in jobs)
    for job in jobs:
        job = stored(job)
        assert job.attempts == 1
        starts = [
            e for e in log(job) if e["data"].get("progress", {}).get("message") == "Starting generation"
        ]
        assert len(starts) == 1


def test_a_worker_renews_its_lease_while_a_second_worker_waits(user):
    job = JobFactory(user=user, word_count=150)
    lease = {"CONTENTGEN_WORKER_LEASE_SECONDS": "2", "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "60"}
    tag = uuid.uuid4().hex[:8]
    first = start_worker(log=f"worker-renew-{tag}-1", **lease)
    _wait_for_stage(job, "research")
    second = start_worker(log=f"worker-renew-{tag}-2", **lease)
    leases_seen: set[object] = set()

    def completed() -> bool:
        now = stored(job)
        leases_seen.add(now.lease_expires_at)
        return now.status == "completed"

    try:
        wait_until(completed, timeout=90, interval=0.2, what="the job to complete")
    finally:
        codes = [first.terminate(timeout=30), second.terminate(timeout=30)]
    assert codes == [0, 0]
    assert len(leases_seen - {None}) >= 3, "the lease was not renewed twice while the second worker waited"
    assert (first.claimed(), second.claimed()) == ([str(job.pk)], [])
    assert stored(job).attempts == 1
    assert not any("Worker lost" in e["data"]["progress"]["message"] for e in log(job))


def test_a_paused_worker_loses_its_job_and_its_late_writes_are_refused(user, settings):
    job = JobFactory(user=user, word_count=400)
    lease = {"CONTENTGEN_WORKER_LEASE_SECONDS": "2", "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "150"}
    tag = uuid.uuid4().hex[:8]
    paused = start_worker(log=f"worker-paused-{tag}", **lease)
    try:
        _wait_for_stage(job, "writing")
        paused.proc.send_signal(signal.SIGSTOP)
        wait_until(
            lambda: stored(job).lease_expires_at.timestamp() < time.time(), timeout=30, what="lease expiry"
        )
        settings.CONTENTGEN_WORKER_LEASE_SECONDS = 2
        burst_here(timeout=90, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="150")
        done = stored(job)
        assert (done.status, done.attempts, done.lease_owner) == ("completed", 2, None)
        last = events.last_seq(job.pk)
        paused.proc.send_signal(signal.SIGCONT)
        wait_until(
            lambda: "lease lost" in paused.log.read_text(errors="replace"),
            timeout=30,
            what="the paused worker to find its lease lost",
        )
        assert paused.terminate(timeout=30) == 0
    finally:
        if paused.proc.poll() is None:
            paused.proc.send_signal(signal.SIGCONT)
            paused.kill()
    after = stored(job)
    assert (after.status, after.result.content, after.progress.percentage) == (
        "completed",
        done.result.content,
        100.0,
    )
    assert events.last_seq(job.pk) == last, "the paused worker published after losing its job"
    evs = log(job)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    assert evs[-1]["type"] == "complete"


def test_sigterm_hands_running_jobs_back_and_exits_zero(user):
    job = JobFactory(user=user, word_count=600)
    worker = start_worker(CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="150")
    _wait_for_stage(job, "writing")
    assert worker.terminate(timeout=30) == 0
    handed_back = stored(job)
    assert handed_back.status == "queued"
    assert handed_back.lease_owner is None
    assert handed_back.progress.percentage >= 33
    assert "research" in handed_back.stage_outputs
    burst_here()
    done = stored(job)
    assert done.status == "completed"
    assert done.stage_timings["research"] == handed_back.stage_timings["research"]
    evs = log(done)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))


def test_a_batch_counts_its_jobs_and_completes_once(api):
    bulk_id = api.post(
        "/api/bulk-jobs/",
        {"items": [{"mode": "trends", "topic": f"T{i}", "word_count": 100} for i in range(3)]},
        format="json",
    ).json()["id"]
    burst_here()
    body = api.get(f"/api/bulk-jobs/{bulk_id}/").json()
    assert body["counts"] == {"queued": 0, "processing": 0, "completed": 3, "failed": 0, "cancelled": 0}
    assert body["percentage"] == 100
    evs = events.after(ObjectId(bulk_id), 0)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    assert [e["type"] for e in evs].count("complete") == 1 and evs[-1]["type"] == "complete"
    assert os.environ.get("CONTENTGEN_OFFLINE_FAIL_STAGE") is None
