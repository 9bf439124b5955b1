"""``run_pipeline``: runs the crew on a helper thread and replays its progress on the caller's thread."""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from . import grounding, research
from .contracts import ArticleResult, JobInput, PipelineCancelled, PipelineEvent, StageFailed
from .llm import check_llm_config, make_llm, provider_of
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
_RESEARCH_WORDS = {"topic": 200, "keywords": 230, "trends": 110}
_FINAL_ANSWER = "Final Answer:"
_WORD_START_RE = re.compile(r"(?<=\s)\S")


@dataclass
class _StageStream:
    words: int = 0
    answer_words: int = 0
    answering: bool = False
    tail: str = ""
    note: str = ""
    progress: float = 0.0


def word_starts(previous: str, chunk: str) -> int:
    """Words that begin in ``chunk``: token chunks split words ("compost", "ing"), which count once."""
    text = (previous[-1:] or " ") + chunk.replace("\\n", " ")
    return len(_WORD_START_RE.findall(text))


@dataclass
class _CrewEvents:
    """Turns crewAI events (on the crew thread, in order) into queue items for the calling thread."""

    job: JobInput
    items: queue.SimpleQueue[tuple[Any, ...]]
    cancel_event: threading.Event
    task_stage: dict[int, str]
    # The offline and local models answer after "Final Answer:" (crewAI's text format); providers called
    # natively answer directly, so all of their output is the answer.
    marked_answers: bool = True
    current: str | None = None
    streams: dict[str, _StageStream] = field(default_factory=dict)
    # A stage whose start was already reported (research, after gathering), and where its bar starts.
    announced: set[str] = field(default_factory=set)
    offsets: dict[str, float] = field(default_factory=dict)
    # Per stage: chunks streamed and prompt characters sent, for the usage of a server that reports none.
    chunks: dict[str, int] = field(default_factory=dict)
    prompt_chars: dict[str, int] = field(default_factory=dict)
    # When the model last produced anything (monotonic), for the stall deadline.
    last_output: float = field(default_factory=time.monotonic)

    def sink(self, source: Any, event: Any) -> None:
        from crewai.events.types.llm_events import LLMCallStartedEvent, LLMStreamChunkEvent  # noqa: PLC0415 - crewAI loads only when a job runs
        from crewai.events.types.task_events import TaskCompletedEvent, TaskStartedEvent  # noqa: PLC0415 - crewAI loads only when a job runs
        from crewai.hooks.dispatch import HookAborted  # noqa: PLC0415 - crewAI loads only when a job runs

        if isinstance(event, LLMStreamChunkEvent | LLMCallStartedEvent):
            # A cancelled, timed-out or stalled job makes no further model calls, and a stream that
            # is still running stops at its next chunk.
            if self.cancel_event.is_set():
                raise HookAborted("Job cancelled", source="contentgen")
            self.last_output = time.monotonic()
        if isinstance(event, LLMCallStartedEvent) and self.current:
            sent = len(str(event.messages))
            self.prompt_chars[self.current] = self.prompt_chars.get(self.current, 0) + sent
        if isinstance(event, TaskStartedEvent):
            self.last_output = time.monotonic()
            stage = self.task_stage.get(id(event.task))
            if stage:
                self.current = stage
                self.streams[stage] = _StageStream(answering=not self.marked_answers)
                if stage not in self.announced:
                    self.items.put(("started", stage))
        elif isinstance(event, TaskCompletedEvent):
            stage = self.task_stage.get(id(event.task))
            if stage:
                self.items.put(("completed", stage, event.output.raw))
        elif isinstance(event, LLMStreamChunkEvent) and self.current and not event.tool_call:
            self._chunk(self.current, event.chunk or "")

    def _chunk(self, stage: str, chunk: str) -> None:
        self.chunks[stage] = self.chunks.get(stage, 0) + 1
        stream = self.streams.setdefault(stage, _StageStream())
        if chunk.startswith("Thought:") and chunk.endswith("\n"):
            stream.note = chunk.removeprefix("Thought:").strip()
        words = word_starts(stream.tail, chunk)
        stream.words += words
        draft = ""
        if stream.answering:
            stream.answer_words += words
            draft = chunk
        seen = stream.tail + chunk
        stream.tail = seen[-64:]
        if not stream.answering and _FINAL_ANSWER in seen:
            stream.answering = True
            draft = seen.split(_FINAL_ANSWER, 1)[1].lstrip()
        draft = draft if stage == "writing" else ""
        own = min(99.0, 100.0 * self._done_words(stage, stream) / self._expected_words(stage))
        offset = self.offsets.get(stage, 0.0)
        progress = round(offset + (100.0 - offset) * own / 100.0, 1)
        if progress > stream.progress or draft:
            stream.progress = max(progress, stream.progress)
            tokens = sum(self.chunks.values())
            self.items.put(("progress", stage, stream.progress, self.message(stage, stream), draft, tokens))

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
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and status >= 500:
        return f"The server for {llm!r} answered HTTP {status}: {first_line[:200]}"
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
USAGE = "usage"
# A step of real work (a source read): sent as it happens, never merged with the next.
STEP = "stage_step"
# Words of quoted sources a model's prompt may carry: the local model's context is 2,048 tokens.
BUDGET_WORDS = {"local": 300, "offline": 1500}
DEFAULT_BUDGET_WORDS = 1200


def usage(model: str, llms: dict[str, Any], tracker: _CrewEvents) -> dict[str, Any]:
    """Tokens per stage: as the model reported them to crewAI, or, from a server that reports none while
    streaming (llama.cpp's), estimated from the chunks it streamed and the prompt's characters."""
    stages: dict[str, dict[str, Any]] = {}
    for stage, llm in llms.items():
        summary = llm.get_token_usage_summary()
        entry: dict[str, Any] = {
            "prompt_tokens": summary.prompt_tokens, "completion_tokens": summary.completion_tokens
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
    on_event(_event("stage_started", "research", 0.0, "Gathering sources"))

    def step(progress: float, message: str) -> None:
        if should_cancel():
            raise PipelineCancelled()
        share = round(progress * research.GATHER_SHARE / 100.0, 1)
        on_event(_event(STEP, "research", share, message))

    budget = BUDGET_WORDS.get(configured_llm(llm_name), DEFAULT_BUDGET_WORDS)
    materials = research.gather(job, researcher, step, budget_words=budget)
    on_event(PipelineEvent(kind=MATERIALS, stage="research", stage_progress=research.GATHER_SHARE,
                           message="", output=json.dumps(research.materials_json(materials))))  # fmt: skip
    return replace(job, materials=materials)


def _run_crew(crew: Any, tracker: _CrewEvents, items: queue.SimpleQueue[tuple[Any, ...]]) -> None:
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
    tracker = _CrewEvents(job=job, items=items, cancel_event=cancel_event, task_stage={})
    try:
        resolved = check_llm_config(llm_name, stage=remaining[0])
        tracker.marked_answers = resolved in ("offline", "local")
        llms = {
            stage: make_llm(resolved, stage=stage, job=job, cancel_event=cancel_event) for stage in remaining
        }
    except StageFailed as exc:
        on_event(_event("stage_started", exc.stage, 0.0, tracker.message(exc.stage)))
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
        # Whatever the outcome: the tokens this attempt spent, for the job's usage and the user's budget.
        spent = usage(resolved, llms, tracker)
        on_event(PipelineEvent(kind=USAGE, stage=tracker.current or remaining[0], stage_progress=0.0,
                               message="", output=json.dumps(spent)))  # fmt: skip

    outputs = dict(completed)
    seo_pydantic = None
    for task, task_output in zip(crew.tasks, crew_output.tasks_output, strict=False):
        stage = tracker.task_stage[id(task)]
        outputs[stage] = task_output.raw
        if stage == "seo":
            seo_pydantic = task_output.pydantic
    return replace(build_result(job, outputs, seo_pydantic), usage=spent)


def _pump(
    items: queue.SimpleQueue[tuple[Any, ...]],
    tracker: _CrewEvents,
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
                pending = replace(_event("stage_progress", item[1], item[2], item[3]), tokens=item[5])
                draft += item[4]
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
        if stall_seconds and time.monotonic() - tracker.last_output > stall_seconds:
            flush()
            cancel_event.set()
            stage = tracker.current or remaining[0]
            raise StageFailed(stage, stall_message(llm_name, stage, stall_seconds))


def stall_message(llm_name: str, stage: str, seconds: float) -> str:
    return (
        f"Stalled: the model {llm_name!r} sent no output for {seconds:.0f} s in the {stage} stage "
        "(CONTENTGEN_LLM_STALL_SECONDS), so the stage was stopped. The provider may be overloaded; "
        "retry the job."
    )
