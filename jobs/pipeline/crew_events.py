"""The crew's events, as crewAI emits them on the crew's thread, turned into progress items for the caller's
thread: stage starts and ends, and a stage's own percentage counted in the words the model has written."""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .contracts import JobInput, PipelineEvent
from .offline_text import subject_for

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
class CrewEvents:
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
    # Where a stage's task ends on its bar when the runner works on after it (the SEO stage's fix passes).
    ceilings: dict[str, float] = field(default_factory=dict)
    # Stages whose end the runner reports itself, after its own work: their task's output is kept here.
    held: set[str] = field(default_factory=set)
    outputs: dict[str, Any] = field(default_factory=dict)
    # While set, the words a model streams go to this callback (a fix step's progress), not to a stage.
    listener: Callable[[int], None] | None = None
    listened: str = ""
    # Per stage: chunks streamed and prompt characters sent, for the usage of a server that reports none.
    chunks: dict[str, int] = field(default_factory=dict)
    prompt_chars: dict[str, int] = field(default_factory=dict)
    # When the model last produced anything (monotonic), for the stall deadline.
    last_output: float = field(default_factory=time.monotonic)

    def listen(self, callback: Callable[[int], None] | None) -> None:
        self.listener, self.listened = callback, ""

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
                self.outputs[stage] = event.output
                if stage not in self.held:
                    self.items.put(("completed", stage, event.output.raw))
        elif isinstance(event, LLMStreamChunkEvent) and not event.tool_call:
            if self.current:
                self.chunks[self.current] = self.chunks.get(self.current, 0) + 1
            if self.listener is not None:
                chunk = event.chunk or ""
                self.listener(word_starts(self.listened, chunk))
                self.listened = (self.listened + chunk)[-64:]
            elif self.current:
                self._chunk(self.current, event.chunk or "")

    def _chunk(self, stage: str, chunk: str) -> None:
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
        progress = round(offset + (self.ceilings.get(stage, 100.0) - offset) * own / 100.0, 1)
        if progress > stream.progress or draft:
            stream.progress = max(progress, stream.progress)
            self.items.put(
                ("progress", stage, stream.progress, self.message(stage, stream), draft, self.tokens)
            )

    @property
    def tokens(self) -> int:
        """Tokens the models have streamed so far in this attempt (about one a chunk)."""
        return sum(self.chunks.values())

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
            return "Writing the meta title and description"
        return f"Editing for the keyphrase '{subject.keyword}'"


def stage_event(
    kind: str, stage: str, progress: float, message: str, output: str | None = None
) -> PipelineEvent:
    return PipelineEvent(kind=kind, stage=stage, stage_progress=progress, message=message, output=output)
