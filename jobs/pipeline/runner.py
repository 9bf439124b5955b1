"""``run_pipeline``: runs the crew on a helper thread and replays its progress on the caller's thread."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from . import pace, research, seo_stage
from .contracts import ArticleResult, JobInput, PipelineCancelled, PipelineEvent, StageFailed
from .crew_events import CrewEvents, stage_event
from .failures import human_message, stall_message
from .formats import is_format_failure
from .llm import check_llm_config, make_llm
from .llm import llm_name as configured_llm
from .scoring import word_count
from .seo_fixers import ModelFixer, RuleFixer
from .seo_stage import Fixer
from .stages import SEO, STAGES_BY_MODE

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 0.05
POLL_SECONDS = 0.05
WORKER_JOIN_SECONDS = 5.0


def build_result(job: JobInput, outputs: dict[str, str]) -> ArticleResult:
    """The result from the stages' outputs: the SEO stage's (its final article and meta, as stored for a
    resumed job) or, without it, the writer's article; scored by the analyzer."""
    draft = seo_stage.draft_of(job, seo_stage.parse_fields(outputs.get(SEO)), outputs.get("writing") or "")
    report = seo_stage.analyse(job, draft)
    return ArticleResult(
        content=draft.content,
        meta_title=draft.meta_title,
        meta_description=draft.meta_description,
        word_count=word_count(draft.content),
        seo_score=report.seo_score,
        readability_score=report.readability_score,
        sources=[material.as_dict() for material in job.materials],
        seo_report=report.as_dicts(),
        meta_derived=draft.meta_derived,
    )


MATERIALS = "materials"
USAGE = "usage"
# A step of real work (a source read): sent as it happens, never merged with the next.
STEP = "stage_step"
# Words of quoted sources a model's prompt may carry: the local model's context is 2,048 tokens.
BUDGET_WORDS = {"local": 300, "offline": 1500}
DEFAULT_BUDGET_WORDS = 1200


def usage(model: str, llms: dict[str, Any], tracker: CrewEvents) -> dict[str, Any]:
    """Tokens per stage: as the model reported them to crewAI, or, from a server that reports none while
    streaming (llama.cpp's), estimated from the chunks it streamed and the prompt's characters."""
    stages: dict[str, dict[str, Any]] = {}
    for stage, llm in llms.items():
        summary = llm.get_token_usage_summary()
        entry: dict[str, Any] = {
            "prompt_tokens": summary.prompt_tokens,
            "completion_tokens": summary.completion_tokens,
        }
        if not summary.total_tokens and tracker.chunks.get(stage):
            entry = {"prompt_tokens": tracker.prompt_chars.get(stage, 0) // 4,
                     "completion_tokens": tracker.chunks[stage], "estimated": True}  # fmt: skip
        stages[stage] = entry
    return {
        "model": model,
        "prompt_tokens": sum(entry["prompt_tokens"] for entry in stages.values()),
        "completion_tokens": sum(entry["completion_tokens"] for entry in stages.values()),
        "stages": stages,
    }


def _gather(
    job: JobInput,
    researcher: research.Researcher,
    on_event: Callable[[PipelineEvent], None],
    should_cancel: Callable[[], bool],
    llm_name: str | None,
) -> JobInput:
    """The research stage's first half: its start, a progress event per step, and the gathered sources,
    sent as a `materials` event so that a resumed job cites the same ones."""
    on_event(stage_event("stage_started", "research", 0.0, "Gathering sources"))

    def step(progress: float, message: str) -> None:
        if should_cancel():
            raise PipelineCancelled()
        share = round(progress * research.GATHER_SHARE / 100.0, 1)
        on_event(stage_event(STEP, "research", share, message))

    budget = BUDGET_WORDS.get(configured_llm(llm_name), DEFAULT_BUDGET_WORDS)
    materials = research.gather(job, researcher, step, budget_words=budget)
    on_event(PipelineEvent(kind=MATERIALS, stage="research", stage_progress=research.GATHER_SHARE,
                           message="", output=json.dumps(research.materials_json(materials))))  # fmt: skip
    return replace(job, materials=materials)


# Where the SEO editor's task ends on its stage's bar: the fix passes that follow take the rest. The built-in
# models' fixes are deterministic (milliseconds, plus the offline model's pacing); a provider's model may
# rewrite the article once per pass, about as long as the editor's own answer took.
SEO_TASK_SHARE = {"offline": 90.0, "local": 90.0}
DEFAULT_SEO_TASK_SHARE = 50.0


def _fixer(llm_name: str, llm: Any, tracker: CrewEvents) -> Fixer:
    if llm_name in ("offline", "local"):
        step = pace.fix_step_seconds() if llm_name == "offline" else 0.0
        return RuleFixer(tracker.cancel_event, step)
    return ModelFixer(llm, tracker.listen, tracker.cancel_event)


@dataclass
class _SeoStage:
    """The SEO stage's work after the editor's task, run on the crew's thread so that the crew's event sink
    sees the fix calls' output (progress, stall, cancel), and reported as the stage's progress: the stage
    ends (its timing, its stored output) only when the fixes are done, which keeps the ETA's SEO timings
    whole. Fix passes are not crew tasks because a pass is kept or discarded on its score, and a sequential
    crew runs every task it has."""

    job: JobInput
    tracker: CrewEvents
    fixer: Fixer
    start: float
    writing: str

    def progress(self, stage_progress: float, message: str, step: bool) -> None:
        self.tracker.last_output = time.monotonic()
        kind = "step" if step else "progress"
        self.tracker.items.put((kind, SEO, round(stage_progress, 1), message, "", self.tracker.tokens))

    def run(self, editor: Any) -> str:
        written = self.tracker.outputs.get("writing")
        writing = written.raw if written is not None else self.writing
        draft = seo_stage.starting_draft(self.job, _editor_fields(editor), writing)
        if draft.meta_derived:
            message = "No usable meta title and description from the model: derived from the article"
            self.progress(self.start, message, True)
        outcome = seo_stage.optimise(self.job, draft, self.fixer, self.progress, start=self.start)
        output = outcome.draft.as_output(seo_stage.keyphrase_for(self.job))
        self.tracker.items.put(("completed", SEO, output, seo_stage.summary(outcome)))
        return output


def _editor_fields(output: Any) -> dict[str, Any]:
    if output is None:
        return {}
    pydantic_output = getattr(output, "pydantic", None)
    if pydantic_output is not None and hasattr(pydantic_output, "model_dump"):
        return dict(pydantic_output.model_dump())
    return seo_stage.parse_fields(getattr(output, "raw", None))


def _run_crew(crew: Any, tracker: CrewEvents, seo: _SeoStage | None) -> None:
    from crewai.events.stream_context import add_stream_sink, reset_stream_sinks  # noqa: PLC0415 - crewAI loads only when a job runs

    # A fresh thread starts with an empty context, so this sink sees only this job's events.
    token = add_stream_sink(tracker.sink)
    tracker.last_output = time.monotonic()
    try:
        try:
            crew.kickoff()
            editor = tracker.outputs.get(SEO)
        except Exception as exc:
            # An SEO editor that answered without the JSON asked for, even after the retry with the stricter
            # prompt, costs the job nothing: the stage derives the meta from the article. Only a real error
            # (the provider down or refusing) fails it.
            if seo is None or tracker.current != SEO or tracker.cancel_event.is_set():
                raise
            if not is_format_failure(exc):
                raise
            logger.warning("the SEO editor's answer was not the JSON asked for; deriving the meta: %s", exc)
            editor = None
        outputs = {stage: output.raw for stage, output in tracker.outputs.items()}
        if seo is not None:
            outputs[SEO] = seo.run(editor)
        tracker.items.put(("done", outputs))
    except BaseException as exc:
        tracker.items.put(("error", exc))
    finally:
        reset_stream_sinks(token)


def run_pipeline(
    job: JobInput,
    *,
    completed: dict[str, str],
    on_event: Callable[[PipelineEvent], None],
    should_cancel: Callable[[], bool] = lambda: False,
    llm_name: str | None = None,
    stall_seconds: float = 0.0,
    researcher: research.Researcher | None = None,
) -> ArticleResult:
    """Run the stages of ``job.mode`` missing from ``completed``; ``on_event`` runs here, in order.
    ``researcher`` is what the research stage gathers from (the knowledge base, the web); without it the
    brief is written from the topic alone."""
    if job.mode not in STAGES_BY_MODE:
        raise ValueError(f"Unknown mode {job.mode!r}; expected one of {', '.join(STAGES_BY_MODE)}")
    remaining = [stage for stage in STAGES_BY_MODE[job.mode] if stage not in completed]
    if MATERIALS in completed:
        job = replace(job, materials=research.materials_from(json.loads(completed[MATERIALS])))
    if not remaining:
        return build_result(job, completed)
    if should_cancel():
        raise PipelineCancelled()
    gathered = "research" in remaining and researcher is not None and research.wanted(job)
    if gathered:
        assert researcher is not None
        job = _gather(job, researcher, on_event, should_cancel, llm_name)

    items: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    cancel_event = threading.Event()
    tracker = CrewEvents(job=job, items=items, cancel_event=cancel_event, task_stage={})
    try:
        resolved = check_llm_config(llm_name, stage=remaining[0])
        tracker.marked_answers = resolved in ("offline", "local")
        llms = {
            stage: make_llm(resolved, stage=stage, job=job, cancel_event=cancel_event) for stage in remaining
        }
    except StageFailed as exc:
        on_event(stage_event("stage_started", exc.stage, 0.0, tracker.message(exc.stage)))
        raise

    from .crew import build_crew  # noqa: PLC0415 - crewAI loads only when a job runs

    crew, tracker.task_stage = build_crew(job, remaining, completed, llms)
    if gathered:
        tracker.announced.add("research")
        tracker.offsets["research"] = research.GATHER_SHARE
    seo = None
    if SEO in remaining:
        start = SEO_TASK_SHARE.get(resolved, DEFAULT_SEO_TASK_SHARE)
        seo = _SeoStage(
            job, tracker, _fixer(resolved, llms[SEO], tracker), start, completed.get("writing", "")
        )
        tracker.held.add(SEO)
        tracker.ceilings[SEO] = start
    worker = threading.Thread(
        target=_run_crew, args=(crew, tracker, seo), name="contentgen-crew", daemon=True
    )
    worker.start()
    try:
        finished = _pump(
            items,
            tracker,
            on_event,
            should_cancel,
            cancel_event,
            remaining,
            llm_name=resolved,
            stall_seconds=stall_seconds,
        )
    finally:
        if worker.is_alive():
            cancel_event.set()
            worker.join(WORKER_JOIN_SECONDS)
            if worker.is_alive():
                # Blocked inside a provider call: the stream sink aborts it at its next chunk, and no
                # new call can start, so it spends no more tokens than the one in flight.
                logger.warning("crew thread still in a model call %.0f s after the stop", WORKER_JOIN_SECONDS)
        # Whatever the outcome: the tokens this attempt spent, for the job's usage and the user's budget.
        spent = usage(resolved, llms, tracker)
        on_event(PipelineEvent(kind=USAGE, stage=tracker.current or remaining[0], stage_progress=0.0,
                               message="", output=json.dumps(spent)))  # fmt: skip

    return replace(build_result(job, {**completed, **finished}), usage=spent)


def _pump(
    items: queue.SimpleQueue[tuple[Any, ...]],
    tracker: CrewEvents,
    on_event: Callable[[PipelineEvent], None],
    should_cancel: Callable[[], bool],
    cancel_event: threading.Event,
    remaining: list[str],
    *,
    llm_name: str,
    stall_seconds: float = 0.0,
) -> dict[str, str]:
    pending: PipelineEvent | None = None
    draft = ""
    last_progress_at = 0.0

    def flush() -> None:
        nonlocal pending, last_progress_at, draft
        if pending is not None:
            on_event(replace(pending, draft_append=draft) if draft else pending)
            pending, last_progress_at, draft = None, time.monotonic(), ""

    while True:
        if should_cancel():
            cancel_event.set()
            raise PipelineCancelled()
        batch: list[tuple[Any, ...]] = []
        try:
            batch.append(items.get(timeout=POLL_SECONDS))
            while True:
                batch.append(items.get_nowait())
        except queue.Empty:
            pass
        for item in batch:
            kind = item[0]
            if kind == "progress":
                pending = replace(stage_event("stage_progress", item[1], item[2], item[3]), tokens=item[5])
                draft += item[4]
            elif kind == "step":
                flush()
                on_event(stage_event(STEP, item[1], item[2], item[3]))
            elif kind == "started":
                flush()
                on_event(stage_event("stage_started", item[1], 0.0, tracker.message(item[1])))
            elif kind == "completed":
                flush()
                message = item[3] if len(item) > 3 else f"Finished {item[1]}"
                on_event(stage_event("stage_completed", item[1], 100.0, message, output=item[2]))
            elif kind == "done":
                flush()
                return item[1]
            else:
                flush()
                exc = item[1]
                if cancel_event.is_set():
                    raise PipelineCancelled() from exc
                stage = tracker.current or remaining[0]
                if isinstance(exc, StageFailed):
                    raise exc
                raise StageFailed(stage, human_message(exc, llm_name)) from exc
        if pending is not None and time.monotonic() - last_progress_at >= PROGRESS_INTERVAL_SECONDS:
            flush()
        if stall_seconds and time.monotonic() - tracker.last_output > stall_seconds:
            flush()
            cancel_event.set()
            stage = tracker.current or remaining[0]
            raise StageFailed(stage, stall_message(llm_name, stage, stall_seconds))
