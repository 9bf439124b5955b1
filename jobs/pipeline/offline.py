"""The offline model: a deterministic crewAI ``BaseLLM`` that streams generated text at a realistic pace."""

from __future__ import annotations

import asyncio
import json
import random
import re
import threading
from typing import TYPE_CHECKING, Any, Self

from crewai.events.types.llm_events import LLMCallType
from crewai.hooks.dispatch import HookAborted
from crewai.llms.base_llm import BaseLLM, llm_call_context
from pydantic import PrivateAttr

from . import config
from .contracts import JobInput
from .grounding import brief_facts, ground
from .offline_text import job_seed, seo_fields, write_article, write_brief
from .pace import (
    DEFAULT_TOKENS_PER_SECOND,
    FAIL_STAGE_ENV,
    SEO_COPY_SPEEDUP,
    steps,
    tokens_per_second,
)

if TYPE_CHECKING:
    from crewai.agents.agent_builder.base_agent import BaseAgent
    from crewai.task import Task
    from crewai.tools.base_tool import BaseTool
    from crewai.utilities.types import LLMMessage
    from pydantic import BaseModel

STALL_STAGE_ENV = config.OFFLINE_STALL_STAGE
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
    # The current call's token counts, for a model that counts its own (the local one).
    _counts: dict[str, int] = PrivateAttr(default_factory=dict)

    @classmethod
    def for_stage(cls, stage: str, job: JobInput, cancel_event: threading.Event | None = None) -> Self:
        kind = cls.model_fields["llm_type"].default
        llm = cls(model=kind, stage=stage, provider=kind)
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
            self._counts = {"prompt_tokens": 0, "completion_tokens": 0}
            try:
                text = self._stream(messages, from_task, from_agent)
            except Exception as exc:
                self._emit_call_failed_event(error=str(exc), from_task=from_task, from_agent=from_agent)
                raise
            usage = self._usage(messages, text)
            self._track_token_usage_internal(usage)
            self._emit_call_completed_event(
                response=text,
                call_type=LLMCallType.LLM_CALL,
                from_task=from_task,
                from_agent=from_agent,
                messages=messages,
                usage=usage,
            )
            return text

    def _usage(self, messages: str | list[LLMMessage], text: str) -> dict[str, int]:
        """What the call would have cost a real model: its prompt and answer at about 4 characters a token
        (crewAI's own estimate); the local model counts its real tokens instead."""
        prompt = self.get_input_tokens_count(messages)
        return {"prompt_tokens": prompt, "completion_tokens": (len(text) + 3) // 4}

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
            facts = brief_facts(job.materials)
            return write_brief(job) + (f"\n{facts}" if facts else "")
        if self.stage == "writing":
            return ground(write_article(job), job.materials)
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
        step_seconds, notes = steps(job, self.stage)
        fail = config.get(FAIL_STAGE_ENV).lower() == self.stage
        stall = config.get(STALL_STAGE_ENV).lower() == self.stage

        def emit(chunk: str) -> None:
            self._emit_stream_chunk_event(
                chunk, from_task=from_task, from_agent=from_agent, call_type=LLMCallType.LLM_CALL
            )

        for index, note in enumerate(notes):
            emit(f"Thought: {note}\n")
            self._pause(step_seconds * scale * rng.uniform(0.9, 1.1))
            if fail and index == len(notes) // 2:
                raise OfflineModelFailure(self.stage)
            if stall and index == len(notes) // 2:
                # A provider whose stream went quiet: nothing more until the job is stopped.
                self._cancel.wait()
                raise OfflineCancelled()
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
