"""The local model (llama.cpp in the worker process) end to end; needs the `local` extra."""

from __future__ import annotations

import threading
import time

import pytest

from jobs.pipeline import JobInput, PipelineCancelled, PipelineEvent, run_pipeline
from tests.factories import JobFactory
from tests.jobs.runtime.test_worker import log, stage_sequence, stored
from tests.stack import run_burst

pytest.importorskip("llama_cpp", reason="the `local` extra is not installed")

pytestmark = [pytest.mark.local_llm, pytest.mark.slow]


@pytest.mark.django_db
@pytest.mark.timeout(300)  # about 30 s on 2 quiet cores; the bound leaves room for a loaded CI machine
def test_a_local_model_job_runs_every_stage_and_passes_the_offline_field_checks(user) -> None:
    job = JobFactory(user=user, mode="topic", word_count=300)
    # One llama.cpp thread: the test run shares 2 cores with another test process, and llama.cpp's
    # spinning threads slow down badly on busy cores (local_model.threads).
    assert run_burst(timeout=280, CONTENTGEN_LLM="local", CONTENTGEN_LOCAL_THREADS="1") == 0
    job = stored(job)
    assert job.status == "completed", job.error and job.error.message
    evs = log(job)
    assert stage_sequence(evs) == ["research", "writing", "seo"]
    writing = [
        e["data"]["progress"]["stage_progress"]
        for e in evs
        if e["type"] == "progress" and e["data"]["progress"]["stage"] == "writing"
    ]
    assert len(set(writing)) >= 10 and writing == sorted(writing)
    # The SEO stage's bar moves with the title and description tokens, not in one jump at the end (it was
    # [0, 2.5, 100]); the stage lasts about a second, and the tracker sends at most 5 events a second.
    seo = [
        e["data"]["progress"]["stage_progress"]
        for e in evs
        if e["type"] == "progress" and e["data"]["progress"]["stage"] == "seo"
    ]
    assert len({p for p in seo if 0 < p < 100}) >= 3 and seo == sorted(seo), seo
    assert max(b - a for a, b in zip(seo, seo[1:], strict=False)) <= 60, seo
    result = job.result
    assert len(result.meta_title) <= 60 and 70 <= len(result.meta_description) <= 160
    assert abs(result.word_count - 300) <= 60, result.word_count
    assert result.content.startswith("# ") and result.content.count("\n## ") >= 2
    assert result.seo_score >= 60
    assert 0 < result.readability_score <= 100


def test_cancelling_the_local_model_mid_writing_stops_within_half_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONTENTGEN_LOCAL_THREADS", "1")
    events: list[PipelineEvent] = []
    cancelled_at: list[float] = []

    def should_cancel() -> bool:
        if sum(1 for e in events if e.kind == "stage_progress" and e.stage == "writing") >= 5:
            cancelled_at.append(time.monotonic())
            return True
        return False

    job = JobInput(
        mode="spin", topic="", keywords=[], source_text="Solar panels cut bills.", word_count=600, tone=""
    )
    with pytest.raises(PipelineCancelled):
        run_pipeline(job, completed={}, on_event=events.append, should_cancel=should_cancel, llm_name="local")
    assert time.monotonic() - cancelled_at[0] < 0.5
    assert not [t for t in threading.enumerate() if t.name == "contentgen-crew"]
    assert "writing" not in [e.stage for e in events if e.kind == "stage_completed"]


def test_the_model_is_freed_at_exit_before_the_interpreter_tears_down(monkeypatch: pytest.MonkeyPatch) -> None:
    from jobs.pipeline import local_model  # noqa: PLC0415

    registered: list[object] = []
    monkeypatch.setattr(local_model.atexit, "register", registered.append)
    runtime = local_model._Runtime()
    model = runtime.model()
    assert registered == [runtime.close]
    runtime.close()
    assert model._model.model is None  # llama.cpp's model is freed: Llama.__del__ has nothing left to do
    assert runtime.models == {}
    assert runtime.model() is not model and len(registered) == 2  # a new load is freed at exit too
    runtime.close()


def test_a_model_in_use_is_not_freed_at_exit() -> None:
    from jobs.pipeline import local_model  # noqa: PLC0415

    runtime = local_model._Runtime()
    model = runtime.model()
    with runtime.generate_lock:  # a generation is running
        runtime.close()
    assert model._model.model is not None and runtime.models
    runtime.close()
    assert model._model.model is None
