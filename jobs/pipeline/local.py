"""``CONTENTGEN_LLM=local``: the crewAI side of the local model, with prompts planned per stage.

crewAI's agent prompts are written for large models; a 135M model cannot follow them. So this LLM reads
only the job and the crew's context (the outline, the article) and plans each generation itself.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from .contracts import JobInput
from .grounding import brief_facts, ground
from .local_model import GenerationCancelled, generate
from .local_text import (
    MAX_EXTRA_SECTIONS,
    Prompt,
    clean_paragraph,
    dedupe_paragraphs,
    description_prompt,
    ensure_structure,
    extra_headings,
    first_line,
    meta_description,
    meta_title,
    norm,
    outline_brief,
    outline_from_brief,
    outline_prompt,
    parse_outline,
    section_prompt,
    section_words,
    sentences,
    title_for,
    title_prompt,
    trim_to_words,
    words_in,
)
from .offline import OfflineCancelled, OfflineLLM, _context_article
from .offline_text import subject_for

if TYPE_CHECKING:
    from crewai.agents.agent_builder.base_agent import BaseAgent
    from crewai.task import Task
    from crewai.utilities.types import LLMMessage

# A section that comes out shorter than this share of its words gets one more paragraph.
PARAGRAPHS_PER_SECTION = 2
SHORT_SECTION = 0.6


def _repeats(seen: set[str]) -> Callable[[str], bool]:
    """True once the model's last finished sentence is one it already wrote: the start of a loop."""

    def check(text: str) -> bool:
        done = sentences(text)
        if len(done) < 2 or not done[-1].rstrip().endswith((".", "!", "?")):
            return False
        last = norm(done[-1])
        earlier = {norm(s) for s in done[:-1]}
        return bool(last) and (last in seen or last in earlier)

    return check


def _user_text(messages: str | list[LLMMessage]) -> str:
    if isinstance(messages, str):
        return messages
    return "\n".join(str(m.get("content") or "") for m in messages if m.get("role") == "user")


class LocalLLM(OfflineLLM):
    """The offline model's crewAI plumbing (events, cancel, Final Answer) with real generation."""

    llm_type: str = "local"

    def _stream(
        self, messages: str | list[LLMMessage], from_task: Task | None, from_agent: BaseAgent | None
    ) -> str:
        job = self._require_job()

        def emit(chunk: str) -> None:
            self._emit_stream_chunk_event(chunk, from_task=from_task, from_agent=from_agent)

        emit("Final Answer: ")
        if self.stage == "research":
            answer = self._research(job, emit)
        elif self.stage == "writing":
            answer = self._writing(job, _user_text(messages), emit)
        else:
            answer = self._seo(job, messages, emit)
        return f"Final Answer: {answer}"

    def _generate(self, prompt: Prompt, emit: Callable[[str], None], seen: set[str] | None = None) -> str:
        try:
            return generate(
                prompt,
                emit=emit,
                cancelled=self._cancel.is_set,
                stop_when=_repeats(seen or set()),
                counts=self._counts,
            )
        except GenerationCancelled:
            raise OfflineCancelled() from None

    def _usage(self, messages: str | list[LLMMessage], text: str) -> dict[str, int]:
        return dict(self._counts)

    def _research(self, job: JobInput, emit: Callable[[str], None]) -> str:
        brief = outline_brief(job, parse_outline(self._generate(outline_prompt(job), emit), job))
        facts = brief_facts(job.materials)
        return brief + (f"\n{facts}" if facts else "")

    def _writing(self, job: JobInput, context: str, emit: Callable[[str], None]) -> str:
        headings = outline_from_brief(context) or parse_outline("", job)
        target = job.word_count
        per = section_words(target, len(headings))
        seen: set[str] = set()
        title = f"# {title_for(job)}\n\n"
        emit(title)
        parts = [title]

        def section(heading: str, *, intro: bool = False, last: bool = False) -> None:
            if heading:
                parts.append(f"## {heading}\n\n")
                emit(parts[-1])
            prompt = section_prompt(job, heading, per, intro=intro, last=last)
            # The model often stops well short of the words asked for: one more paragraph then.
            for _paragraph in range(PARAGRAPHS_PER_SECTION):
                text = clean_paragraph(self._generate(prompt, emit, seen), seen)
                emit("\n\n")
                if text:
                    parts.append(text + "\n\n")
                if words_in(text) >= SHORT_SECTION * per or last:
                    break

        def written() -> int:
            return sum(words_in(p.lstrip("#")) for p in parts)

        section("", intro=True)
        for heading in headings:
            section(heading)
        # Continue in sections while the article is short of the requested length.
        for heading in extra_headings(headings)[:MAX_EXTRA_SECTIONS]:
            if written() + per >= 0.9 * target:
                break
            section(heading)
        section("Final thoughts", last=True)
        article = ensure_structure(dedupe_paragraphs("".join(parts)), job)
        return ground(trim_to_words(article, int(target * 1.1)), job.materials)

    def _seo(self, job: JobInput, messages: str | list[LLMMessage], emit: Callable[[str], None]) -> str:
        article = _context_article(messages) or ensure_structure(f"This article is about {job.topic}.", job)
        article = ensure_structure(dedupe_paragraphs(article), job)
        title, description = title_prompt(job), description_prompt(job)
        # The stage's answer repeats the article, which takes no model time: its words ride along with the
        # tokens of the title and the description, so the stage's bar moves at the model's own pace.
        riding = RideAlong(
            emit, article, expected_tokens=SEO_TOKEN_SHARE * (title.max_tokens + description.max_tokens)
        )
        raw_title = first_line(self._generate(title, riding))
        riding("\n")
        raw_description = first_line(self._generate(description, riding))
        riding.finish()
        fields = {
            "meta_title": meta_title(raw_title, job),
            "meta_description": meta_description(raw_description, article, job),
            "focus_keyword": subject_for(job).keyword,
            "content": article,
        }
        return json.dumps(fields, ensure_ascii=False)


# The share of their token budgets that the title and the description usually take.
SEO_TOKEN_SHARE = 0.6


class RideAlong:
    """Passes the model's chunks on and, after each, as much of `text` as the share of the expected tokens
    seen so far; `finish` sends the rest."""

    def __init__(self, emit: Callable[[str], None], text: str, *, expected_tokens: float) -> None:
        self.emit = emit
        self.pieces = re.findall(r"\S+\s*", text)
        self.expected = max(1.0, expected_tokens)
        self.tokens = 0
        self.sent = 0

    def __call__(self, chunk: str) -> None:
        self.emit(chunk)
        self.tokens += 1
        self._send(min(len(self.pieces), math.ceil(len(self.pieces) * self.tokens / self.expected)))

    def finish(self) -> None:
        self._send(len(self.pieces))

    def _send(self, due: int) -> None:
        if due > self.sent:
            self.emit("".join(self.pieces[self.sent : due]))
            self.sent = due
