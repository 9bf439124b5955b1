from __future__ import annotations

import json
import threading
import time
from dataclasses import replace

import pytest

from jobs.pipeline import (
    STAGES_BY_MODE,
    JobInput,
    PipelineCancelled,
    PipelineEvent,
    StageFailed,
    local_model,
    run_pipeline,
)
from tests.stack import wait_until

SOURCE = (
    "Composting indoors is easier than most people think. A sealed bin keeps smells away. "
    "Worms do most of the work if you feed them scraps. Avoid meat and dairy in small bins."
)


def _job(mode: str = "topic", word_count: int = 600) -> JobInput:
    return JobInput(
        mode=mode,
        topic="" if mode == "spin" else "Composting in small apartments",
        keywords=["small space composting", "bokashi"] if mode == "keywords" else [],
        source_text=SOURCE if mode == "spin" else "",
        word_count=word_count,
        tone="friendly",
    )


class Recorder:
    def __init__(self) -> None:
        self.events: list[PipelineEvent] = []
        self.threads: set[int] = set()

    def __call__(self, event: PipelineEvent) -> None:
        self.threads.add(threading.get_ident())
        self.events.append(event)

    def stages(self, kind: str) -> list[str]:
        return [e.stage for e in self.events if e.kind == kind]


def _assert_well_ordered(events: list[PipelineEvent], stages: tuple[str, ...]) -> None:
    position = 0
    for stage in stages:
        assert events[position].kind == "stage_started" and events[position].stage == stage
        position += 1
        progress: list[float] = []
        while events[position].kind in ("stage_progress", "stage_step"):
            assert events[position].stage == stage
            progress.append(events[position].stage_progress)
            position += 1
        assert progress, f"no progress for {stage}"
        assert progress == sorted(progress) and all(0 <= p <= 100 for p in progress)
        completed = events[position]
        assert completed.kind == "stage_completed" and completed.stage == stage
        assert completed.stage_progress == 100 and completed.output
        position += 1
    # Last, whatever the outcome: the attempt's token usage, for the job's cost and the user's budget.
    assert [event.kind for event in events[position:]] == ["usage"]
    assert json.loads(events[position].output or "")["completion_tokens"] > 0


@pytest.mark.parametrize("mode", sorted(STAGES_BY_MODE))
def test_each_mode_runs_its_stages_in_order(mode: str) -> None:
    recorder = Recorder()
    result = run_pipeline(_job(mode), completed={}, on_event=recorder)

    _assert_well_ordered(recorder.events, STAGES_BY_MODE[mode])
    assert recorder.threads == {threading.get_ident()}
    assert all(e.message for e in recorder.events if e.kind != "usage")
    assert len(result.meta_title) <= 60
    assert len(result.meta_description) <= 160
    # The SEO stage may cut slot-filled repetition at the cost of some length (seo_stage.improves).
    assert abs(result.word_count - 600) <= 120
    assert result.content.startswith("# ")
    assert result.seo_score >= 60
    assert 0 < result.readability_score <= 100


def test_writing_progress_messages_count_words() -> None:
    recorder = Recorder()
    run_pipeline(_job(), completed={}, on_event=recorder)
    writing = [e.message for e in recorder.events if e.stage == "writing" and e.kind == "stage_progress"]
    assert writing[-1].startswith("Writing: ") and writing[-1].endswith("of ~600 words")


@pytest.mark.parametrize("stage", ["research", "writing", "seo"])
def test_injected_failure_names_its_stage(stage: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTENTGEN_OFFLINE_FAIL_STAGE", stage)
    recorder = Recorder()
    started = time.monotonic()
    with pytest.raises(StageFailed) as failure:
        run_pipeline(_job(), completed={}, on_event=recorder)
    assert time.monotonic() - started < 5
    assert failure.value.stage == stage
    assert failure.value.message == (
        f"Offline model failure injected in the {stage} stage (CONTENTGEN_OFFLINE_FAIL_STAGE={stage})"
    )
    assert "Traceback" not in failure.value.message
    assert recorder.stages("stage_started")[-1] == stage
    assert stage not in recorder.stages("stage_completed")


def test_resume_skips_completed_research() -> None:
    recorder = Recorder()
    brief = "# Research brief: Composting in small apartments\n\n## Audience\nRenters with no garden."
    result = run_pipeline(_job(), completed={"research": brief}, on_event=recorder)
    assert recorder.stages("stage_started") == ["writing", "seo"]
    _assert_well_ordered(recorder.events, ("writing", "seo"))
    assert result.word_count > 500


def test_resume_with_only_seo_left_reuses_the_stored_article() -> None:
    first = Recorder()
    whole = run_pipeline(_job(), completed={}, on_event=first)
    outputs = {e.stage: e.output or "" for e in first.events if e.kind == "stage_completed"}
    second = Recorder()
    result = run_pipeline(
        _job(), completed={"research": outputs["research"], "writing": outputs["writing"]}, on_event=second
    )
    assert second.stages("stage_started") == ["seo"]
    # The same article, meta and report; only the tokens differ (this attempt ran one stage).
    assert replace(result, usage={}) == replace(whole, usage={})


def test_resume_after_every_stage_builds_the_result_from_the_stored_seo_output() -> None:
    first = Recorder()
    whole = run_pipeline(_job(), completed={}, on_event=first)
    outputs = {e.stage: e.output or "" for e in first.events if e.kind == "stage_completed"}
    second = Recorder()
    assert run_pipeline(_job(), completed=outputs, on_event=second) == replace(whole, usage={})
    assert second.events == []


def test_missing_provider_key_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    recorder = Recorder()
    started = time.monotonic()
    with pytest.raises(StageFailed) as failure:
        run_pipeline(_job(), completed={}, on_event=recorder, llm_name="openai/gpt-4o-mini")
    assert time.monotonic() - started < 3
    assert failure.value.stage == "research"
    assert "OPENAI_API_KEY" in failure.value.message


def test_local_model_without_the_extra_fails_the_first_stage_saying_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = local_model.importlib.util.find_spec
    monkeypatch.setattr(
        local_model.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llama_cpp" else real_find_spec(name, *a),
    )
    monkeypatch.setenv("CONTENTGEN_LLM", "local")
    recorder = Recorder()
    with pytest.raises(StageFailed) as failure:
        run_pipeline(_job("spin"), completed={}, on_event=recorder)
    assert failure.value.stage == "writing"
    assert "pip install -e '.[local]'" in failure.value.message
    assert recorder.stages("stage_started") == ["writing"]


def test_local_model_path_that_is_not_a_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    # Without the extra, the missing llama-cpp-python is named first (the test above).
    pytest.importorskip("llama_cpp", reason="the `local` extra is not installed")
    monkeypatch.setenv("CONTENTGEN_LOCAL_MODEL_PATH", str(tmp_path / "missing.gguf"))
    with pytest.raises(StageFailed, match="CONTENTGEN_LOCAL_MODEL_PATH=.*missing.gguf is not a file"):
        run_pipeline(_job(), completed={}, on_event=Recorder(), llm_name="local")


def test_writing_progress_events_carry_the_draft_exactly_once() -> None:
    recorder = Recorder()
    result = run_pipeline(_job(), completed={}, on_event=recorder)
    draft = "".join(e.draft_append for e in recorder.events)
    assert all(e.stage == "writing" for e in recorder.events if e.draft_append)
    writing = next(e.output for e in recorder.events if e.kind == "stage_completed" and e.stage == "writing")
    assert draft.strip() == (writing or "").strip()
    assert draft.startswith("# ") and result.content.startswith("# ")


def _crew_threads(started_before: set[threading.Thread]) -> list[threading.Thread]:
    """This test's crew threads: those another test left behind are not its to wait for."""
    return [t for t in threading.enumerate() if t.name == "contentgen-crew" and t not in started_before]


def test_cancellation_stops_the_stage_and_its_crew_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # 20 tokens a second: left alone, the writing stage's 600 words would take the crew 30 s or more.
    monkeypatch.setenv("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "20")
    before = set(threading.enumerate())
    recorder = Recorder()
    brief = "# Research brief: Composting in small apartments\n\n## Audience\nRenters with no garden."

    def should_cancel() -> bool:
        return any(e.stage == "writing" and e.kind == "stage_progress" for e in recorder.events)

    with pytest.raises(PipelineCancelled):
        run_pipeline(_job(), completed={"research": brief}, on_event=recorder, should_cancel=should_cancel)
    assert recorder.stages("stage_completed") == []
    # Far sooner than the stage would end by itself: the cancel, not the stage's end, stopped the crew.
    wait_until(lambda: not _crew_threads(before), timeout=10, what="the cancelled crew thread to end")


def test_a_stage_with_no_model_output_for_the_stall_limit_fails_and_its_crew_stops(monkeypatch):
    monkeypatch.setenv("CONTENTGEN_OFFLINE_STALL_STAGE", "writing")
    before = set(threading.enumerate())
    recorder = Recorder()
    with pytest.raises(StageFailed) as failure:
        run_pipeline(_job(), completed={}, on_event=recorder, stall_seconds=3.0)
    assert failure.value.stage == "writing"
    assert "Stalled" in failure.value.message and "no output for 3 s" in failure.value.message
    assert "CONTENTGEN_LLM_STALL_SECONDS" in failure.value.message
    assert recorder.stages("stage_completed") == ["research"]
    wait_until(lambda: not _crew_threads(before), timeout=30, what="the stalled crew thread to end")


class Timed(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.at: list[float] = []

    def __call__(self, event: PipelineEvent) -> None:
        self.at.append(time.monotonic())
        super().__call__(event)

    def stage_seconds(self, stage: str) -> float:
        marks = {(e.kind, e.stage): at for e, at in zip(self.events, self.at, strict=True)}
        return marks[("stage_completed", stage)] - marks[("stage_started", stage)]


def test_a_stage_longer_than_the_stall_limit_is_not_a_stall_while_output_flows(monkeypatch):
    # 100 tokens a second: the writing stage's 600 words take about 6 s, twice the limit, with output
    # every hundredth of a second.
    monkeypatch.setenv("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "100")
    recorder = Timed()
    result = run_pipeline(_job("spin", 600), completed={}, on_event=recorder, stall_seconds=3.0)
    assert recorder.stage_seconds("writing") > 3.0, "the stage was shorter than the limit: nothing tested"
    assert result.word_count > 400
