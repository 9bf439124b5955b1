"""Why a stage failed, in words a person can act on: a provider's error, a stall."""

from __future__ import annotations

import re

from .llm import provider_of


def human_message(exc: BaseException, llm: str) -> str:
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


def stall_message(llm_name: str, stage: str, seconds: float) -> str:
    return (
        f"Stalled: the model {llm_name!r} sent no output for {seconds:.0f} s in the {stage} stage "
        "(CONTENTGEN_LLM_STALL_SECONDS), so the stage was stopped. The provider may be overloaded; "
        "retry the job."
    )
