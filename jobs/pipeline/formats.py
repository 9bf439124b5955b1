"""Which failures are not the provider's but its model's answer (not the JSON asked for): a stage can work
around those, and only those."""

from __future__ import annotations

import json
from collections.abc import Iterator

from .contracts import StructuredOutputError

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
