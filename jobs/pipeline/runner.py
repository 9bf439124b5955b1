"""``run_pipeline``: runs the crew on a helper thread and replays its progress on the caller's thread."""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import grounding, research
from .contracts import ArticleResult, JobInput, PipelineCancelled, PipelineEvent, StageFailed
from .crew_events import CrewEvents, stage_event
from .failures import human_message, stall_message
from .llm import check_llm_config, make_llm
from .llm import llm_name as configured_llm
from .offline_text import subject_for
from .scoring import (
    clip_meta_description,
    clip_meta_title,
    first_paragraph,
    readability,
    seo_score,
    word_count,
)
from .stages import STAGES_BY_MODE

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL_SECONDS = 0.05
POLL_SECONDS = 0.05
WORKER_JOIN_SECONDS = 5.0


def _seo_fields(raw: str | None, pydantic_output: Any) -> dict[str, str]:
    if pydantic_output is not None and hasattr(pydantic_output, "model_dump"):
        return {k: str(v) for k, v in pydantic_output.model_dump().items()}
    if not raw:
        return {}
    match = re.search(r"\{.*\}", raw, re.DOTALL)
    try:
        data = json.loads(match.group(0) if match else raw)
    except json.JSONDecodeError:
        return {}
    return {k: str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def build_result(job: JobInput, outputs: dict[str, str], seo_pydantic: Any = None) -> ArticleResult:
    fields = _seo_fields(outputs.get("seo"), seo_pydantic)
    content = grounding.finish((fields.get("content") or outputs.get("writing") or "").strip(), job.materials)
    keyword = fields.get("focus_keyword") or subject_for(job).keyword
    heading = re.search(r"(?m)^#\s+(.+)$", content)
    meta_title = clip_meta_title(fields.get("meta_title") or (heading.group(1) if heading else job.topic))
    meta_description = clip_meta_description(fields.get("meta_description") or first_paragraph(content))
    return ArticleResult(
        content=content,
        meta_title=meta_title,
        meta_description=meta_description,
        word_count=word_count(content),
        seo_score=seo_score(content, meta_title, meta_description, keyword),
        readability_score=readability(content),
        sources=[material.as_dict() for material in job.materials],
    )


MATERIALS = "materials"
# A step of real work (a source read): sent as it happens, never merged with the next.
STEP = "stage_step"
# Words of quoted sources a model's prompt may carry: the local model's context is 2,048 tokens.
BUDGET_WORDS = {"local": 300, "offline": 1500}
DEFAULT_BUDGET_WORDS = 1200


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


def _run_crew(crew: Any, tracker: CrewEvents, items: queue.SimpleQueue[tuple[Any, ...]]) -> None:
    from crewai.events.stream_context import add_stream_sink, reset_stream_sinks  # noqa: PLC0415 - crewAI loads only when a job runs

    # A fresh thread starts with an empty context, so this sink sees only this job's events.
    token = add_stream_sink(tracker.sink)
    tracker.last_output = time.monotonic()
    try:
        items.put(("done", crew.kickoff()))
    except BaseException as exc:
        items.put(("error", exc))
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
    worker = threading.Thread(
        target=_run_crew, args=(crew, tracker, items), name="contentgen-crew", daemon=True
    )
    worker.start()
    try:
        crew_output = _pump(
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

    outputs = dict(completed)
    seo_pydantic = None
    for task, task_output in zip(crew.tasks, crew_output.tasks_output, strict=False):
        stage = tracker.task_stage[id(task)]
        outputs[stage] = task_output.raw
        if stage == "seo":
            seo_pydantic = task_output.pydantic
    return build_result(job, outputs, seo_pydantic)


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
) -> Any:
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
                pending = stage_event("stage_progress", item[1], item[2], item[3])
                draft += item[4]
            elif kind == "started":
                flush()
                on_event(stage_event("stage_started", item[1], 0.0, tracker.message(item[1])))
            elif kind == "completed":
                flush()
                on_event(
                    stage_event("stage_completed", item[1], 100.0, f"Finished {item[1]}", output=item[2])
                )
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
