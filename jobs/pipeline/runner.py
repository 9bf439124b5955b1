"""``run_pipeline``: runs the crew on a helper thread and replays its progress on the caller's thread."""

from __future__ import annotations

import json
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .contracts import ArticleResult, JobInput, PipelineCancelled, PipelineEvent, StageFailed
from .llm import check_llm_config, make_llm, provider_of
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

PROGRESS_INTERVAL_SECONDS = 0.05
POLL_SECONDS = 0.05
WORKER_JOIN_SECONDS = 5.0
_RESEARCH_WORDS = {"topic": 200, "keywords": 230, "trends": 110}
_FINAL_ANSWER = "Final Answer:"


@dataclass
class _StageStream:
    words: int = 0
    answer_words: int = 0
    answering: bool = False
    tail: str = ""
    note: str = ""
    progress: float = 0.0


@dataclass
class _CrewEvents:
    """Turns crewAI events (on the crew thread, in order) into queue items for the calling thread."""

    job: JobInput
    items: queue.SimpleQueue[tuple[Any, ...]]
    cancel_event: threading.Event
    task_stage: dict[int, str]
    current: str | None = None
    streams: dict[str, _StageStream] = field(default_factory=dict)

    def sink(self, source: Any, event: Any) -> None:
        from crewai.events.types.llm_events import LLMCallStartedEvent, LLMStreamChunkEvent  # noqa: PLC0415 - crewAI loads only when a job runs
        from crewai.events.types.task_events import TaskCompletedEvent, TaskStartedEvent  # noqa: PLC0415 - crewAI loads only when a job runs
        from crewai.hooks.dispatch import HookAborted  # noqa: PLC0415 - crewAI loads only when a job runs

        if isinstance(event, LLMStreamChunkEvent | LLMCallStartedEvent) and self.cancel_event.is_set():
            raise HookAborted("Job cancelled", source="contentgen")
        if isinstance(event, TaskStartedEvent):
            stage = self.task_stage.get(id(event.task))
            if stage:
                self.current = stage
                self.streams[stage] = _StageStream()
                self.items.put(("started", stage))
        elif isinstance(event, TaskCompletedEvent):
            stage = self.task_stage.get(id(event.task))
            if stage:
                self.items.put(("completed", stage, event.output.raw))
        elif isinstance(event, LLMStreamChunkEvent) and self.current and not event.tool_call:
            self._chunk(self.current, event.chunk or "")

    def _chunk(self, stage: str, chunk: str) -> None:
        stream = self.streams.setdefault(stage, _StageStream())
        if chunk.startswith("Thought:") and chunk.endswith("\n"):
            stream.note = chunk.removeprefix("Thought:").strip()
        words = len(chunk.replace("\\n", " ").split())
        stream.words += words
        if stream.answering:
            stream.answer_words += words
        stream.tail = (stream.tail + chunk)[-64:]
        if not stream.answering and _FINAL_ANSWER in stream.tail:
            stream.answering = True
        progress = min(99.0, round(100.0 * self._done_words(stage, stream) / self._expected_words(stage), 1))
        if progress > stream.progress:
            stream.progress = progress
            self.items.put(("progress", stage, progress, self.message(stage, stream)))

    def _done_words(self, stage: str, stream: _StageStream) -> int:
        return stream.answer_words if stage == "writing" else stream.words

    def _expected_words(self, stage: str) -> int:
        if stage == "research":
            return _RESEARCH_WORDS.get(self.job.mode, 200)
        if stage == "writing":
            return max(1, self.job.word_count)
        return max(1, self.job.word_count) + 60

    def message(self, stage: str, stream: _StageStream | None = None) -> str:
        subject = subject_for(self.job)
        if stage == "writing":
            if stream and stream.answering:
                return f"Writing: {stream.answer_words} of ~{self.job.word_count} words"
            return stream.note if stream and stream.note else f"Writing ~{self.job.word_count} words"
        if stream and stream.note and not stream.answering:
            return stream.note
        if stage == "research":
            return f"Researching '{subject.topic}'" + (
                ": writing the brief" if stream and stream.answering else ""
            )
        if stream and stream.answering:
            return "Finalising the optimised article"
        return f"Checking keyword placement for '{subject.keyword}'"


def _event(kind: str, stage: str, progress: float, message: str, output: str | None = None) -> PipelineEvent:
    return PipelineEvent(kind=kind, stage=stage, stage_progress=progress, message=message, output=output)


def _human_message(exc: BaseException, llm: str) -> str:
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason.strip():
        return reason.strip()[:300]
    text = str(exc).strip()
    text = re.sub(r"^(Task execution failed:\s*)+", "", text)
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    name = type(exc).__name__
    if "Authentication" in name or getattr(exc, "status_code", None) == 401:
        return f"The {provider_of(llm)} API rejected the credentials for {llm!r}: {first_line[:200]}"
    if "Timeout" in name:
        return f"The model {llm!r} did not answer in time: {first_line[:200] or name}"
    if "Connection" in name:
        return f"Could not reach the model {llm!r}: {first_line[:200] or name}"
    return (f"{name}: {first_line}" if first_line else name)[:300]


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
    content = (fields.get("content") or outputs.get("writing") or "").strip() + "\n"
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
    )


def _run_crew(crew: Any, tracker: _CrewEvents, items: queue.SimpleQueue[tuple[Any, ...]]) -> None:
    from crewai.events.stream_context import add_stream_sink, reset_stream_sinks  # noqa: PLC0415 - crewAI loads only when a job runs

    # A fresh thread starts with an empty context, so this sink sees only this job's events.
    token = add_stream_sink(tracker.sink)
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
) -> ArticleResult:
    """Run the stages of ``job.mode`` missing from ``completed``; ``on_event`` runs here, in order."""
    if job.mode not in STAGES_BY_MODE:
        raise ValueError(f"Unknown mode {job.mode!r}; expected one of {', '.join(STAGES_BY_MODE)}")
    remaining = [stage for stage in STAGES_BY_MODE[job.mode] if stage not in completed]
    if not remaining:
        return build_result(job, completed)
    if should_cancel():
        raise PipelineCancelled()

    items: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    cancel_event = threading.Event()
    tracker = _CrewEvents(job=job, items=items, cancel_event=cancel_event, task_stage={})
    try:
        resolved = check_llm_config(llm_name, stage=remaining[0])
        llms = {
            stage: make_llm(resolved, stage=stage, job=job, cancel_event=cancel_event) for stage in remaining
        }
    except StageFailed as exc:
        on_event(_event("stage_started", exc.stage, 0.0, tracker.message(exc.stage)))
        raise

    from .crew import build_crew  # noqa: PLC0415 - crewAI loads only when a job runs

    crew, tracker.task_stage = build_crew(job, remaining, completed, llms)
    worker = threading.Thread(
        target=_run_crew, args=(crew, tracker, items), name="contentgen-crew", daemon=True
    )
    worker.start()
    try:
        crew_output = _pump(
            items, tracker, on_event, should_cancel, cancel_event, remaining, llm_name=resolved
        )
    finally:
        if worker.is_alive():
            cancel_event.set()
            worker.join(WORKER_JOIN_SECONDS)

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
    tracker: _CrewEvents,
    on_event: Callable[[PipelineEvent], None],
    should_cancel: Callable[[], bool],
    cancel_event: threading.Event,
    remaining: list[str],
    *,
    llm_name: str,
) -> Any:
    pending: PipelineEvent | None = None
    last_progress_at = 0.0

    def flush() -> None:
        nonlocal pending, last_progress_at
        if pending is not None:
            on_event(pending)
            pending, last_progress_at = None, time.monotonic()

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
                pending = _event("stage_progress", item[1], item[2], item[3])
            elif kind == "started":
                flush()
                on_event(_event("stage_started", item[1], 0.0, tracker.message(item[1])))
            elif kind == "completed":
                flush()
                on_event(_event("stage_completed", item[1], 100.0, f"Finished {item[1]}", output=item[2]))
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
                raise StageFailed(stage, _human_message(exc, llm_name)) from exc
        if pending is not None and time.monotonic() - last_progress_at >= PROGRESS_INTERVAL_SECONDS:
            flush()
