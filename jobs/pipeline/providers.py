"""crewAI's native OpenAI class pointed at any OpenAI-compatible server (``CONTENTGEN_LLM_BASE_URL``).

Many such servers (llama.cpp's, older vLLM and Ollama builds) accept ``response_format`` ``text`` or
``json_object`` but refuse ``json_schema``, which crewAI sends for a task's ``output_pydantic``. Then
this class asks for JSON in the prompt (and ``json_object``), validates the answer with the same pydantic
model, and retries once with the validation error before giving up with a message that names it. A server
that takes ``json_schema`` but whose model still answers broken JSON (small models do) gets that one retry
with the stricter prompt too. The SEO stage then derives what it needs (``jobs.pipeline.seo_stage``).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from crewai.llms.providers.openai.completion import OpenAICompletion
from pydantic import BaseModel, PrivateAttr, ValidationError

from .contracts import StructuredOutputError
from .formats import is_format_failure

if TYPE_CHECKING:
    from crewai.agents.agent_builder.base_agent import BaseAgent
    from crewai.task import Task
    from crewai.tools.base_tool import BaseTool
    from crewai.utilities.types import LLMMessage

__all__ = ["CompatibleOpenAI", "StructuredOutputError"]


def refuses_format(exc: BaseException, format_name: str) -> bool:
    """A server's answer saying it does not take this ``response_format`` (4xx or, for some, 500)."""
    status = getattr(exc, "status_code", None)
    text = str(exc)
    return status in (400, 415, 422, 500, 501) and ("response_format" in text or format_name in text)


def json_instruction(model: type[BaseModel], problem: str | None = None) -> str:
    schema = json.dumps(model.model_json_schema(), separators=(",", ":"))
    text = f"Answer with one JSON object only, no other text, that matches this JSON schema:\n{schema}"
    if problem:
        text += f"\nYour previous answer was not valid ({problem}). Answer again with valid JSON only."
    return text


def parse_json_answer(text: str, model: type[BaseModel]) -> BaseModel:
    """The answer's JSON object, from its first "{" to its last "}" (str.find: a regular expression rescans
    to the end from every "{" of a long answer), validated by ``model``."""
    text = text or ""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the answer")
    return model.model_validate_json(text[start : end + 1])


def _with_instruction(messages: str | list[LLMMessage], instruction: str) -> list[LLMMessage]:
    base: list[LLMMessage] = (
        [{"role": "user", "content": messages}] if isinstance(messages, str) else list(messages)
    )
    return [*base, {"role": "user", "content": instruction}]


class CompatibleOpenAI(OpenAICompletion):
    _schema_refused: bool = PrivateAttr(default=False)
    _json_object_refused: bool = PrivateAttr(default=False)

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
        if response_model is None:
            return super().call(messages, tools, callbacks, available_functions, from_task, from_agent)
        problem: str | None = None
        attempts = 2
        if not self._schema_refused:
            try:
                return super().call(
                    messages, tools, callbacks, available_functions, from_task, from_agent, response_model
                )
            except Exception as exc:
                if refuses_format(exc, "json_schema"):
                    self._schema_refused = True
                elif is_format_failure(exc):
                    problem, attempts = str(exc).splitlines()[0][:300], 1
                else:
                    raise
        rest = (tools, callbacks, available_functions, from_task, from_agent)
        for _attempt in range(attempts):
            prompt = _with_instruction(messages, json_instruction(response_model, problem))
            text = self._call_json_object(prompt, *rest)
            try:
                return parse_json_answer(str(text), response_model)
            except (ValidationError, ValueError) as exc:
                problem = str(exc).splitlines()[0][:300]
        refused = "; the server refuses json_schema output" if self._schema_refused else ""
        raise StructuredOutputError(
            f"The model {self.model!r} did not return valid JSON for {response_model.__name__} "
            f"after a retry ({problem}){refused}"
        )

    def _call_json_object(self, messages: list[LLMMessage], *args: Any) -> Any:
        if not self._json_object_refused:
            self.response_format = {"type": "json_object"}
            try:
                return super().call(messages, *args)
            except Exception as exc:
                if not refuses_format(exc, "json_object"):
                    raise
                self._json_object_refused = True
            finally:
                self.response_format = None
        return super().call(messages, *args)
