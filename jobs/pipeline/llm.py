"""Model factory: ``CONTENTGEN_LLM`` (or an explicit name) to one crewAI LLM instance per agent."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from . import config
from .contracts import JobInput, StageFailed
from .crewai_env import prepare_crewai_environment
from .local_model import LocalModelUnavailable, check_local_model

if TYPE_CHECKING:
    from crewai.llms.base_llm import BaseLLM

LLM_ENV = config.LLM
BASE_URL_ENV = config.LLM_BASE_URL
DEFAULT_LLM = "offline"
REQUEST_TIMEOUT_SECONDS = 120.0

PROVIDER_KEY_ENVS: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "claude": ("ANTHROPIC_API_KEY",),
    "gemini": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "google": ("GEMINI_API_KEY", "GOOGLE_API_KEY"),
    "azure": ("AZURE_API_KEY",),
    "azure_openai": ("AZURE_API_KEY",),
    "bedrock": ("AWS_ACCESS_KEY_ID",),
    "aws": ("AWS_ACCESS_KEY_ID",),
    "openrouter": ("OPENROUTER_API_KEY",),
    "deepseek": ("DEEPSEEK_API_KEY",),
    "groq": ("GROQ_API_KEY",),
    "mistral": ("MISTRAL_API_KEY",),
    "ollama": (),
}
_SAMPLE_JOB = JobInput(
    mode="topic",
    topic="Getting started with home composting",
    keywords=[],
    source_text="",
    word_count=600,
    tone="friendly",
)
_BARE_MODEL_PROVIDERS = (
    ("gpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("claude", "anthropic"),
    ("gemini", "gemini"),
)


def llm_name(name: str | None = None) -> str:
    return (name or config.get(LLM_ENV) or DEFAULT_LLM).strip()


def provider_of(model: str) -> str:
    if "/" in model:
        return model.split("/", 1)[0].lower()
    return next((p for prefix, p in _BARE_MODEL_PROVIDERS if model.lower().startswith(prefix)), "openai")


def check_llm_config(name: str | None, *, stage: str) -> str:
    """Validate the configuration without importing crewAI; returns the resolved model name."""
    resolved = llm_name(name)
    if resolved == "offline":
        return resolved
    if resolved == "local":
        try:
            check_local_model()
        except LocalModelUnavailable as exc:
            raise StageFailed(stage, str(exc)) from exc
        return resolved
    provider = provider_of(resolved)
    if base_url() and provider == "openai":
        return resolved
    key_envs = PROVIDER_KEY_ENVS.get(provider)
    if key_envs and not any(config.get(env) for env in key_envs):
        raise StageFailed(
            stage, f"{key_envs[0]} is not set: export it or set {LLM_ENV}=offline (model {resolved!r})"
        )
    return resolved


def base_url() -> str:
    return config.get(BASE_URL_ENV)


def make_llm(
    name: str | None,
    *,
    stage: str,
    job: JobInput | None = None,
    cancel_event: threading.Event | None = None,
) -> BaseLLM:
    """A fresh LLM for one agent. Raises StageFailed for a missing key or an unusable model name."""
    resolved = check_llm_config(name, stage=stage)
    prepare_crewai_environment()
    if resolved == "offline":
        from .offline import OfflineLLM  # noqa: PLC0415 - imports crewAI, kept off the import path

        return OfflineLLM.for_stage(stage, job or _SAMPLE_JOB, cancel_event)

    if resolved == "local":
        from .local import LocalLLM  # noqa: PLC0415 - crewAI and llama.cpp load only when a job runs

        return LocalLLM.for_stage(stage, job or _SAMPLE_JOB, cancel_event)

    from crewai import LLM  # noqa: PLC0415 - crewAI loads only when a job runs

    options: dict[str, Any] = {"stream": True, "timeout": REQUEST_TIMEOUT_SECONDS, "max_retries": 1}
    try:
        if base_url() and provider_of(resolved) == "openai":
            from .providers import CompatibleOpenAI  # noqa: PLC0415 - crewAI loads only when a job runs

            # crewAI routes only the model names it knows to its OpenAI class; a server serves any name.
            return CompatibleOpenAI(
                model=resolved.split("/", 1)[1],
                provider="openai",
                base_url=base_url(),
                api_key=config.get("OPENAI_API_KEY") or "not-needed",
                **options,
            )
        return LLM(model=resolved, **options)
    except ImportError as exc:
        raise StageFailed(
            stage,
            f"Model {resolved!r} is not supported by a native crewAI provider and LiteLLM is not "
            f"installed: pip install litellm, or set {LLM_ENV}=offline",
        ) from exc
    except Exception as exc:
        raise StageFailed(stage, f"Could not configure model {resolved!r}: {exc}") from exc
