"""The worker as a real process: embedded MongoDB and Redis, the offline model, real crewAI."""

from __future__ import annotations

import os
import time

import pytest
from bson import ObjectId

from jobs import services
from jobs.models import GenerationJob
from jobs.pages import draft_text
from jobs.validation import parse_job
from progress import events
from tests.stack import run_burst, start_worker, wait_until

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

STAGES = {
    "topic": ["research", "writing", "seo"],
    "keywords": ["research", "writing", "seo"],
    "trends": ["research", "writing", "seo"],
    "spin": ["writing", "seo"],
}
INPUTS = {
    "topic": {"topic": "Composting in small apartments"},
    "keywords": {"keywords": ["balcony garden", "container tomatoes"]},
    "trends": {"topic": "Home energy"},
    "spin": {"source_text": "Solar panels cut bills. They need sun and a good roof. Installers can help."},
}


def make_job(user, mode: str = "topic", **fields) -> GenerationJob:
    spec, errors = parse_job({"mode": mode, **INPUTS[mode], "word_count": 300, **fields})
    assert not errors, errors
    return services.job_create(user=user, spec=spec)


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
    jobs = {mode: make_job(user, mode) for mode in STAGES}
    assert run_burst(timeout=120) == 0
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
    job = make_job(user)
    assert run_burst(CONTENTGEN_OFFLINE_FAIL_STAGE=stage) == 0
    job = stored(job)
    assert job.status == "failed"
    assert job.error.stage == stage
    assert stage in job.error.message
    evs = log(job)
    assert evs[-1]["type"] == "complete"
    assert evs[-1]["data"]["status"] == "failed"
    assert evs[-1]["data"]["error"]["stage"] == stage
    assert job.lease_owner is None


def test_a_missing_provider_key_fails_fast_naming_the_key(user):
    job = make_job(user)
    env = {"CONTENTGEN_LLM": "openai/gpt-4o-mini", "OPENAI_API_KEY": ""}
    started = time.monotonic()
    assert run_burst(**env) == 0
    assert time.monotonic() - started < 30
    job = stored(job)
    assert job.status == "failed"
    assert "OPENAI_API_KEY" in job.error.message
    assert job.error.stage == "research"


def _wait_for_stage(job: GenerationJob, stage: str, timeout: float = 60) -> None:
    wait_until(
        lambda: stored(job).progress.stage == stage and stored(job).progress.stage_progress > 5,
        timeout=timeout,
        interval=0.1,
        what=f"job to be in {stage}",
    )


def test_a_killed_worker_is_taken_over_and_resumes_after_research(user):
    job = make_job(user, word_count=600)
    lease = {"CONTENTGEN_WORKER_LEASE_SECONDS": "3", "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "150"}
    first = start_worker(**lease)
    try:
        _wait_for_stage(job, "writing")
    finally:
        first.kill()
    research_before = stored(job).stage_timings["research"]
    wait_until(lambda: stored(job).lease_expires_at.timestamp() < time.time(), timeout=10, what="lease expiry")
    assert run_burst(**{**lease, "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "0"}) == 0
    job = stored(job)
    assert job.status == "completed"
    assert job.attempts == 2
    assert job.stage_timings["research"] == research_before
    evs = log(job)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    takeover = next(i for i, e in enumerate(evs) if "Worker lost, retrying (attempt 2 of 3)" in e["data"]["progress"]["message"])
    assert all(e["data"]["progress"]["stage"] != "research" for e in evs[takeover:])


def test_two_workers_run_each_of_20_jobs_exactly_once(user):
    jobs = [make_job(user, "trends", word_count=100) for _ in range(20)]
    workers = [start_worker("--burst"), start_worker("--burst")]
    assert [w.wait(timeout=150) for w in workers] == [0, 0]
    for job in jobs:
        job = stored(job)
        assert job.status == "completed"
        assert job.attempts == 1
        starts = [e for e in log(job) if e["data"].get("progress", {}).get("message") == "Starting generation"]
        assert len(starts) == 1


def test_sigterm_hands_running_jobs_back_and_exits_zero(user):
    job = make_job(user, word_count=600)
    worker = start_worker(CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="150")
    _wait_for_stage(job, "writing")
    assert worker.terminate(timeout=30) == 0
    handed_back = stored(job)
    assert handed_back.status == "queued"
    assert handed_back.lease_owner is None
    assert handed_back.progress.percentage >= 33
    assert "research" in handed_back.stage_outputs
    assert run_burst() == 0
    done = stored(job)
    assert done.status == "completed"
    assert done.stage_timings["research"] == handed_back.stage_timings["research"]
    evs = log(done)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))


def test_a_batch_counts_its_jobs_and_completes_once(api):
    bulk_id = api.post("/api/bulk-jobs/", {"items": [{"mode": "trends", "topic": f"T{i}", "word_count": 100} for i in range(3)]}, format="json").json()["id"]
    assert run_burst() == 0
    body = api.get(f"/api/bulk-jobs/{bulk_id}/").json()
    assert body["counts"] == {"queued": 0, "processing": 0, "completed": 3, "failed": 0, "cancelled": 0}
    assert body["percentage"] == 100
    evs = events.after(ObjectId(bulk_id), 0)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    assert [e["type"] for e in evs].count("complete") == 1 and evs[-1]["type"] == "complete"
    assert os.environ.get("CONTENTGEN_OFFLINE_FAIL_STAGE") is None
