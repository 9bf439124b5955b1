"""The offline model: a deterministic crewAI ``BaseLLM`` that streams generated text at a realistic pace."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import threading
from typing import TYPE_CHECKING, Any

from crewai.events.types.llm_events import LLMCallType
from crewai.hooks.dispatch import HookAborted
from crewai.llms.base_llm import BaseLLM, llm_call_context
from pydantic import PrivateAttr

from .contracts import JobInput
from .offline_text import job_seed, seo_fields, subject_for, write_article, write_brief

if TYPE_CHECKING:
    from crewai.agents.agent_builder.base_agent import BaseAgent
    from crewai.task import Task
    from crewai.tools.base_tool import BaseTool
    from crewai.utilities.types import LLMMessage
    from pydantic import BaseModel

DEFAULT_TOKENS_PER_SECOND = 70.0
TOKENS_PER_SECOND_ENV = "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND"
FAIL_STAGE_ENV = "CONTENTGEN_OFFLINE_FAIL_STAGE"
# The SEO editor re-emits the finished article; copying is much faster than composing.
SEO_COPY_SPEEDUP = 4.0
_CHUNK_RE = re.compile(r"\S+\s*|\s+")
_CONTEXT_END = "\n\nProvide your complete response"


class OfflineModelFailure(HookAborted):
    """Injected failure. A ``HookAborted`` so crewAI passes it straight through instead of retrying."""

    def __init__(self, stage: str) -> None:
        super().__init__(
            f"Offline model failure injected in the {stage} stage ({FAIL_STAGE_ENV}={stage})",
            source="contentgen-offline",
        )
        self.stage = stage


class OfflineCancelled(HookAborted):
    def __init__(self) -> None:
        super().__init__("Job cancelled", source="contentgen")


def tokens_per_second() -> float:
    raw = os.environ.get(TOKENS_PER_SECOND_ENV, "").strip()
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_TOKENS_PER_SECOND
    except ValueError:
        return DEFAULT_TOKENS_PER_SECOND


def _steps(job: JobInput, stage: str) -> tuple[float, list[str]]:
    """Seconds per step at the default pace, and the step notes streamed as the model's thoughts."""
    topic = subject_for(job).topic
    keyword = subject_for(job).keyword
    if stage == "research":
        if job.mode == "trends":
            return 0.7, [
                f"Researching '{topic}': scanning what is trending this week",
                f"Researching '{topic}': picking the freshest angle",
                f"Researching '{topic}': noting facts to check",
            ]
        notes = [
            f"Researching '{topic}': scanning top-ranking articles",
            f"Researching '{topic}': identifying the audience",
            f"Researching '{topic}': collecting angles",
            f"Researching '{topic}': listing common questions",
            f"Researching '{topic}': noting facts to check",
            f"Researching '{topic}': outlining the brief",
        ]
        if job.mode == "keywords":
            notes.insert(
                4, f"Researching '{topic}': analysing search intent for {len(job.keywords) or 1} keywords"
            )
        return 0.9, notes
    if stage == "writing":
        return 0.6, [f"Outlining ~{job.word_count} words on '{topic}'"]
    return 0.6, [
        f"Checking keyword placement for '{keyword}'",
        "Checking heading structure",
        "Measuring keyword density and readability",
        "Drafting the meta title and description",
    ]


def _context_article(messages: str | list[LLMMessage]) -> str | None:
    """The writer's markdown article as crewAI passes it in the SEO task's context, if present."""
    if isinstance(messages, str):
        text = messages
    else:
        text = "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")
    starts = [m.start() for m in re.finditer(r"(?m)^# (?!Research brief)", text)]
    if not starts:
        return None
    body = text[starts[-1] :]
    end = body.find(_CONTEXT_END)
    body = body[:end] if end >= 0 else body
    body = body.split("\n<<<END", 1)[0]
    return body.strip() + "\n"


class OfflineLLM(BaseLLM):
    llm_type: str = "offline"
    stage: str = "writing"
    _job: JobInput | None = PrivateAttr(default=None)
    _cancel: threading.Event = PrivateAttr(default_factory=threading.Event)

    @classmethod
    def for_stage(cls, stage: str, job: JobInput, cancel_event: threading.Event | None = None) -> OfflineLLM:
        llm = cls(model="offline", stage=stage, provider="offline")
        llm._job = job
        llm._cancel = cancel_event or threading.Event()
        return llm

    def supports_function_calling(self) -> bool:
        return False

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 128_000

    def get_input_tokens_count(
        self,
        messages: str | list[LLMMessage],
        tools: list[dict[str, BaseTool]] | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> int:
        text = messages if isinstance(messages, str) else json.dumps(messages, default=str)
        return (len(text) + 3) // 4

    def call(
        self,
        messages: str | list[LLMMessage],
        tools: list[dict[str, BaseTool]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Task | None = None,
        from_agent: BaseAgent | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | Any:
        with llm_call_context():
            self._emit_call_started_event(
                messages=messages,
                tools=tools,
                callbacks=callbacks,
                available_functions=available_functions,
                from_task=from_task,
                from_agent=from_agent,
            )
            try:
                text = self._stream(messages, from_task, from_agent)
            except Exception as exc:
                self._emit_call_failed_event(error=str(exc), from_task=from_task, from_agent=from_agent)
                raise
            self._emit_call_completed_event(
                response=text,
                call_type=LLMCallType.LLM_CALL,
                from_task=from_task,
                from_agent=from_agent,
                messages=messages,
            )
            return text

    async def acall(
        self,
        messages: str | list[LLMMessage],
        tools: list[dict[str, BaseTool]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Task | None = None,
        from_agent: BaseAgent | None = None,
        response_model: type[BaseModel] | None = None,
    ) -> str | Any:
        return await asyncio.to_thread(
            self.call, messages, tools, callbacks, available_functions, from_task, from_agent, response_model
        )

    def answer(self, messages: str | list[LLMMessage]) -> str:
        job = self._require_job()
        if self.stage == "research":
            return write_brief(job)
        if self.stage == "writing":
            return write_article(job)
        article = _context_article(messages) or write_article(job)
        return json.dumps(seo_fields(job, article), ensure_ascii=False)

    def _require_job(self) -> JobInput:
        if self._job is None:
            raise RuntimeError("OfflineLLM needs a job: build it with OfflineLLM.for_stage(stage, job)")
        return self._job

    def _pause(self, seconds: float) -> None:
        if self._cancel.wait(seconds) if seconds > 0 else self._cancel.is_set():
            raise OfflineCancelled()

    def _stream(
        self, messages: str | list[LLMMessage], from_task: Task | None, from_agent: BaseAgent | None
    ) -> str:
        job = self._require_job()
        rate = tokens_per_second()
        scale = DEFAULT_TOKENS_PER_SECOND / rate if rate else 0.0
        rng = random.Random(f"{job_seed(job)}:{self.stage}")
        jitter = rng.uniform(0.9, 1.1)
        step_seconds, notes = _steps(job, self.stage)
        fail = os.environ.get(FAIL_STAGE_ENV, "").strip().lower() == self.stage

        def emit(chunk: str) -> None:
            self._emit_stream_chunk_event(
                chunk, from_task=from_task, from_agent=from_agent, call_type=LLMCallType.LLM_CALL
            )

        for index, note in enumerate(notes):
            emit(f"Thought: {note}\n")
            self._pause(step_seconds * scale * rng.uniform(0.9, 1.1))
            if fail and index == len(notes) // 2:
                raise OfflineModelFailure(self.stage)
        answer = self.answer(messages)
        emit("Final Answer: ")
        token_seconds = jitter * scale / DEFAULT_TOKENS_PER_SECOND
        if self.stage == "seo":
            token_seconds /= SEO_COPY_SPEEDUP
        for chunk in _CHUNK_RE.findall(answer):
            emit(chunk)
            self._pause(token_seconds)
        thoughts = "".join(f"Thought: {note}\n" for note in notes)
        return f"{thoughts}Final Answer: {answer}"
