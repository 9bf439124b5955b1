"""Why a stage failed, in words a person can act on: a provider's error, a stall; and which failures are not
the provider's but its model's answer (broken JSON), which a stage can work around."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from .contracts import StructuredOutputError
from .llm import provider_of

# Parsers' errors that say an answer was not the JSON asked for, by (module prefix, class name): checked by
# name so that importing this module imports neither pydantic nor crewAI.
_FORMAT_ERRORS = (
    ("pydantic", "ValidationError"),
    ("crewai", "ConverterError"),
    ("crewai", "OutputParserError"),
)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def _transport(exc: BaseException) -> bool:
    name = type(exc).__name__
    return (
        getattr(exc, "status_code", None) is not None
        or isinstance(exc, OSError)
        or "Connection" in name
        or "Timeout" in name
    )


def is_format_failure(exc: BaseException) -> bool:
    """The model answered, but not in the format asked for. A provider that is down, refuses the request or
    times out is a real error: the first of the two kinds found from the outermost exception in wins, so a
    server error raised while its body failed to parse stays a server error."""
    for link in _chain(exc):
        if _transport(link):
            return False
        kind = type(link)
        if isinstance(link, StructuredOutputError | json.JSONDecodeError) or any(
            kind.__module__.startswith(module) and kind.__name__ == name for module, name in _FORMAT_ERRORS
        ):
            return True
    return False


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
