"""Who fixes the checks the SEO stage finds failing: deterministic rewrites for the built-in models, the model
itself for providers.

The built-in models get ``jobs.pipeline.seo.apply_offline_fix`` only. The offline model writes from templates
and cannot be asked anything; the local model (135M parameters, 2,048 tokens of context) neither follows an
editing instruction nor holds an article and the instruction together, which is also why ``LocalLLM`` plans
each of its generations itself.

A provider's model gets one call per part of the article that failing checks point at (the meta title, the
meta description, the H1, the introduction, or the whole text), with ``fixes.instruction`` for each check,
and answers with that part alone, as plain text: no JSON to break. Only the part is replaced. A whole-text
rewrite costs as much as writing the article again, so it is asked for only when a check of the text is a
problem; checks that are merely "ok" ride along with it. The stage checks every answer and keeps it only if it
scores better (``seo_stage.optimise``), and tries the deterministic fix where the answer did not fix a check.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from . import grounding
from .contracts import JobInput, PipelineCancelled
from .scoring import clip_meta_description, clip_meta_title, word_count
from .seo import FIX_ORDER, OFFLINE_FIXABLE, Report, Verdict, instruction
from .seo.rewrite import join_lines, raw_text
from .seo.text import parse
from .seo_stage import MIN_KEPT_SHARE, Draft, FixStep, keyphrase_for

Listen = Callable[[Callable[[int], None] | None], None]

# Only the person who set the keyphrase can change it. Links and citations need what a fix prompt does not
# carry (the site's pages, the sources' text): a model asked for them would invent them.
NOT_FOR_A_MODEL = frozenset({"keyphrase_length", "internal_links", "outbound_links"})
SCOPES: dict[str, str] = {
    "keyphrase_in_meta_title": "meta_title",
    "meta_title_length": "meta_title",
    "keyphrase_in_meta_description": "meta_description",
    "meta_description_duplicates": "meta_description",
    "meta_description_length": "meta_description",
    "keyphrase_in_h1": "title",
    "keyphrase_in_introduction": "introduction",
}
# The whole text first, so that the parts rewritten after it are not undone by it.
SCOPE_ORDER = ("article", "title", "introduction", "meta_title", "meta_description")
RULE = "rule"
# Words a one-line answer (a title, a meta description) is expected to take, for the step's progress.
LINE_WORDS = 25
# A whole-text answer with more words than this share of the article is not a revision of it.
MAX_GROWN_SHARE = 2.0

_SYSTEM = (
    "You are an SEO editor. You change only what you are asked to change, keep the language and the facts, "
    "and answer with the changed text alone, without comments."
)
_LABEL_PREFIXES = ("meta title:", "meta description:", "title:", "description:", "h1:")


def _failing(report: Report) -> list[Verdict]:
    found = (report.verdict(check_id) for check_id in FIX_ORDER)
    return [verdict for verdict in found if verdict is not None and verdict.status != "good"]


@dataclass
class RuleFixer:
    """The built-in models' fixer: a step per failing check that has a deterministic fix, in ``FIX_ORDER``.
    ``step_seconds`` paces the offline model's steps like its other output (0 in tests)."""

    cancel: threading.Event
    step_seconds: float = 0.0

    def plan(self, report: Report) -> list[FixStep]:
        return [FixStep(RULE, (verdict,)) for verdict in _failing(report) if verdict.id in OFFLINE_FIXABLE]

    def rewrite(
        self, step: FixStep, draft: Draft, job: JobInput, done: Callable[[float], None]
    ) -> Draft | None:
        return None

    def pause(self) -> None:
        if self.cancel.wait(self.step_seconds) if self.step_seconds > 0 else self.cancel.is_set():
            raise PipelineCancelled()


@dataclass
class ModelFixer:
    """A provider's model as the fixer. ``listen`` routes the words the model streams during a call to a
    callback (the runner's crew-event sink), for the step's progress."""

    llm: Any
    listen: Listen
    cancel: threading.Event

    def plan(self, report: Report) -> list[FixStep]:
        groups: dict[str, list[Verdict]] = {}
        for verdict in _failing(report):
            if verdict.id not in NOT_FOR_A_MODEL:
                groups.setdefault(SCOPES.get(verdict.id, "article"), []).append(verdict)
        article = groups.pop("article", [])
        if not any(verdict.status == "problem" for verdict in article):
            # No whole-text rewrite for "ok" checks alone: their deterministic fixes, where they have one.
            groups[RULE] = [verdict for verdict in article if verdict.id in OFFLINE_FIXABLE]
        else:
            groups["article"] = article
        return [FixStep(scope, tuple(groups[scope])) for scope in (*SCOPE_ORDER, RULE) if groups.get(scope)]

    def pause(self) -> None:
        if self.cancel.is_set():
            raise PipelineCancelled()

    def rewrite(
        self, step: FixStep, draft: Draft, job: JobInput, done: Callable[[float], None]
    ) -> Draft | None:
        if step.scope == RULE:
            return None
        asked = _request(step, draft, job)
        if asked is None:
            return None
        prompt, expected_words = asked
        written = 0

        def on_words(count: int) -> None:
            nonlocal written
            written += count
            done(written / max(1, expected_words))

        self.listen(on_words)
        try:
            answer = str(
                self.llm.call([{"role": "system", "content": _SYSTEM}, {"role": "user", "content": prompt}])
            )
        finally:
            self.listen(None)
        return _apply(step, draft, job, answer)


def _quoted(label: str, text: str) -> str:
    return f"\n\n{label}:\n<<<\n{text.strip()}\n<<<END"


def _request(step: FixStep, draft: Draft, job: JobInput) -> tuple[str, int] | None:
    """The prompt for the step's part of the article, and the words its answer should take."""
    keyphrase = keyphrase_for(job)
    todo = "\n".join(f"{n}. {instruction(v, keyphrase=keyphrase)}" for n, v in enumerate(step.checks, 1))
    doc = parse(draft.content)
    intro = doc.intro
    opening = raw_text(doc, intro) if intro is not None else ""
    if step.scope == "article":
        body = grounding.body_of(draft.content)
        text = (
            f"Revise the Markdown article below. Do this:\n{todo}\n\nKeep its '# ' title, its facts and "
            "every citation such as [1] where it stands, and do not add a list of sources. Answer with the "
            "whole revised article in Markdown and nothing else." + _quoted("Article", body)
        )
        return text, word_count(body)
    if step.scope == "introduction":
        if intro is None or intro.kind != "paragraph":
            return None
        text = (
            f"Rewrite the first paragraph of an article. Do this:\n{todo}\n\nKeep every citation such as "
            "[1]. Answer with the new paragraph alone." + _quoted("Paragraph", opening)
        )
        return text, intro.word_count
    current, what, rule = {
        "title": (next((b.text for b in doc.headings if b.level == 1), ""), "H1 title", "without '#'"),
        "meta_title": (
            draft.meta_title,
            "meta title (the title shown in search results)",
            "in 60 characters",
        ),
        "meta_description": (draft.meta_description, "meta description", "in 120 to 156 characters"),
    }[step.scope]
    text = (
        f"Rewrite the article's {what}. Do this:\n{todo}\n\nAnswer with the new text alone, on one line, "
        f"{rule}, without quotes."
        + _quoted("Current text", current)
        + _quoted("Opening of the article", opening)
    )
    return text, LINE_WORDS


def _unwrapped(answer: str) -> str:
    """The answer without a "Final Answer:" marker or a code fence around it."""
    text = answer.strip()
    if text.startswith("Final Answer:"):
        text = text.removeprefix("Final Answer:").strip()
    if text.startswith("```"):
        lines = text.splitlines()[1:]
        if lines and lines[-1].strip().startswith("```"):
            lines = lines[:-1]
        text = "\n".join(lines).strip()
    return text


def _line(answer: str) -> str:
    """The first line of a one-line answer, without Markdown marks, quotes or a "Meta title:" label."""
    line = next((line.strip() for line in _unwrapped(answer).splitlines() if line.strip()), "")
    line = line.lstrip("#").strip()
    if line.strip("*_").lower().startswith(_LABEL_PREFIXES):
        line = line.split(":", 1)[1]
    return " ".join(line.strip().strip("*_").strip("\"'“”‘’").split())


def _apply(step: FixStep, draft: Draft, job: JobInput, answer: str) -> Draft | None:
    """The draft with the step's part replaced by the model's answer; None when the answer cannot be one."""
    if step.scope == "article":
        body = _unwrapped(answer)
        before = word_count(grounding.body_of(draft.content))
        if not MIN_KEPT_SHARE * before <= word_count(body) <= MAX_GROWN_SHARE * max(1, before):
            return None
        return replace(draft, content=grounding.finish(body, job.materials))
    if step.scope == "introduction":
        paragraph = " ".join(_unwrapped(answer).split("\n\n", 1)[0].split())
        doc = parse(draft.content)
        if not paragraph or doc.intro is None:
            return None
        lines = list(doc.lines)
        lines[doc.intro.start : doc.intro.stop] = [paragraph]
        return replace(draft, content=join_lines(lines, draft.content))
    line = _line(answer)
    if not line:
        return None
    if step.scope == "meta_title":
        return replace(draft, meta_title=clip_meta_title(line))
    if step.scope == "meta_description":
        return replace(draft, meta_description=clip_meta_description(line))
    doc = parse(draft.content)
    lines = list(doc.lines)
    title = next((block for block in doc.headings if block.level == 1), None)
    if title is None:
        lines[0:0] = [f"# {line}", ""]
    else:
        lines[title.start] = f"# {line}"
    return replace(draft, content=join_lines(lines, draft.content))
