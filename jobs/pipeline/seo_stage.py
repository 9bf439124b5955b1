"""The SEO stage's article: where it starts from the editor's answer, how it is scored, and the fix passes.

The crew's SEO editor answers with a meta title, a meta description and the article. From there the stage
analyses the article (``jobs.pipeline.seo``), fixes the checks that fail, and analyses again, for at most
``MAX_PASSES`` passes. A change is kept only when the two scores together rise and no check becomes a problem
(``improves``), so the stage never hands back an article that scores lower than the one it was given; a pass
that changed nothing ends the stage, as the next one would try the same fixes again.

When the editor gave no usable meta (a small model's broken JSON), the meta title and description are
derived from the article and ``meta_derived`` says so; the fix passes then work on those.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from . import grounding
from .contracts import JobInput
from .offline_text import subject_for
from .scoring import clip_meta_description, clip_meta_title, word_count
from .seo import LABELS, OFFLINE_FIXABLE, Report, Verdict, analyze, apply_offline_fix
from .seo.meta import tidy_clip
from .seo.rewrite import capitalise
from .seo.text import parse

MAX_PASSES = 2
# Issue 29's limits for a derived meta: a title within 60 characters, a description within 155.
DERIVED_TITLE_LIMIT = 60
DERIVED_DESCRIPTION_LIMIT = 155
# A rewrite of the article (the editor's, a fix's) keeping fewer of its words than this share cut it short:
# shorter texts can score higher (fewer long sentences, less repetition), so the score alone would keep it.
MIN_KEPT_SHARE = 0.6

# (stage progress, message, step): a step (the checks counted, a fix begun) is sent as it happens; the
# progress of a model's answer within a fix may be merged with the next.
Progress = Callable[[float, str, bool], None]
_SPACE_BEFORE_MARK_RE = re.compile(r"\s+(?=[.,;:!?])")


@dataclass(frozen=True)
class Draft:
    content: str
    meta_title: str
    meta_description: str
    meta_derived: bool = False

    def as_output(self, keyphrase: str) -> str:
        """The stage's stored output: what a resumed job builds its result from."""
        return json.dumps({**asdict(self), "focus_keyword": keyphrase}, ensure_ascii=False)


def keyphrase_for(job: JobInput) -> str:
    """The focus keyphrase: the job's first keyword, or its topic."""
    return subject_for(job).keyword


def analyse(job: JobInput, draft: Draft) -> Report:
    return analyze(
        content=draft.content,
        meta_title=draft.meta_title,
        meta_description=draft.meta_description,
        keyphrase=keyphrase_for(job),
        target_words=job.word_count,
        sources=len(job.materials),
    )


def total(report: Report) -> float:
    """The score a change is judged by: SEO and readability together, each 0-100, weighing the same."""
    return report.seo_score + report.readability_score


def problems(report: Report) -> int:
    return sum(1 for verdict in report.checks if verdict.status == "problem")


def improves(new: Report, old: Report, check_ids: Sequence[str] = ()) -> bool:
    """No more problems than before, and a higher total, or the same total with the checks being fixed
    scoring more. A trade is allowed: cutting slot-filled repetition raises readability more than the words
    it removes cost the text's length check."""
    if problems(new) > problems(old) or total(new) < total(old):
        return False
    return total(new) > total(old) or _scores(new, check_ids) > _scores(old, check_ids)


def _scores(report: Report, check_ids: Sequence[str]) -> int:
    # A check that stopped applying (its images removed) counts as failed, so removal is never a fix.
    return sum(verdict.score if (verdict := report.verdict(check_id)) else 0 for check_id in check_ids)


def derive_meta(content: str, fallback: str) -> tuple[str, str]:
    """A meta title from the first heading (else the first sentence) within 60 characters, and a description
    of the opening sentences within 155: what the stage uses when the model gave none."""
    doc = parse(content)
    headings = [block.text for block in doc.headings if not block.in_sources]
    titles = [block.text for block in doc.headings if block.level == 1 and not block.in_sources]
    # The prose loses its citations ("roof [1]." reads "roof ."): the gap before the punctuation goes too.
    sentences = [_SPACE_BEFORE_MARK_RE.sub("", sentence.text) for sentence in doc.sentences]
    first = (titles or headings or sentences or [capitalise(fallback)])[0]
    title = tidy_clip(first.removesuffix(".") if not first.endswith("..") else first, DERIVED_TITLE_LIMIT)
    description = ""
    for sentence in sentences:
        longer = f"{description} {sentence}".strip()
        if len(longer) > DERIVED_DESCRIPTION_LIMIT:
            break
        description = longer
    if not description and sentences:
        description = tidy_clip(sentences[0], DERIVED_DESCRIPTION_LIMIT)
    return title, description


def parse_fields(raw: str | None) -> dict[str, Any]:
    """The JSON object in a stage's answer or stored output (from its first "{" to its last "}"), or {}.

    str.find, not a ``\\{.*\\}`` search: that pattern rescans to the end from every "{" of a hostile answer.
    """
    text = raw or ""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return {}
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return value.strip() if isinstance(value, str) else ""


def draft_of(job: JobInput, fields: dict[str, Any], writing: str) -> Draft:
    """The article as the fields give it (the editor's content, else the writer's), its Sources list rewritten
    from the materials, and the meta the fields give, each derived from the article where missing."""
    content = grounding.finish(_text(fields, "content") or writing.strip(), job.materials)
    title, description = derive_meta(content, subject_for(job).topic)
    meta_title = clip_meta_title(_text(fields, "meta_title"))
    meta_description = clip_meta_description(_text(fields, "meta_description"))
    derived = not meta_title or not meta_description or fields.get("meta_derived") is True
    return Draft(content, meta_title or title, meta_description or description, derived)


def starting_draft(job: JobInput, fields: dict[str, Any], writing: str) -> Draft:
    """The editor's draft, unless its article is cut short or the writer's article with the same meta scores
    better: an editor that damages the text (a small model's truncated answer) loses to the writer."""
    edited = draft_of(job, fields, writing)
    if not writing.strip() or not _text(fields, "content"):
        return edited
    written = replace(edited, content=grounding.finish(writing.strip(), job.materials))
    if written.content == edited.content:
        return edited
    if word_count(edited.content) < MIN_KEPT_SHARE * word_count(written.content):
        return written
    return written if improves(analyse(job, written), analyse(job, edited)) else edited


@dataclass(frozen=True)
class FixStep:
    """One fix: the checks it targets, all in the same part of the article (its scope)."""

    scope: str
    checks: tuple[Verdict, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(verdict.id for verdict in self.checks)

    @property
    def label(self) -> str:
        first = LABELS.get(self.checks[0].id, self.checks[0].id)
        label = first[:1].lower() + first[1:]
        more = len(self.checks) - 1
        return f"{label} and {more} more" if more else label


class Fixer(Protocol):
    """How a model fixes failing checks: which steps a report calls for, and one step's rewrite."""

    def plan(self, report: Report) -> list[FixStep]: ...

    def rewrite(
        self, step: FixStep, draft: Draft, job: JobInput, done: Callable[[float], None]
    ) -> Draft | None:
        """The draft with the step's checks fixed by the model, or None (no model, or an unusable answer);
        ``done`` takes the share of the step written so far (0-1)."""
        ...

    def pause(self) -> None:
        """Called before each step: a paced model waits here, and a stopped job stops here."""
        ...


@dataclass(frozen=True)
class Outcome:
    draft: Draft
    before: Report
    after: Report
    improved: tuple[str, ...]


def optimise(job: JobInput, draft: Draft, fixer: Fixer, progress: Progress, *, start: float) -> Outcome:
    """At most MAX_PASSES passes of fixes, reported as the stage's progress from ``start`` to 100."""
    keyphrase = keyphrase_for(job)
    current = draft
    before = report = analyse(job, draft)
    improved: list[str] = []
    span = (100.0 - start) / MAX_PASSES
    for number in range(MAX_PASSES):
        steps = fixer.plan(report)
        failing = sum(1 for verdict in report.checks if verdict.status != "good")
        low = start + span * number
        checked = f"Checked {len(report.checks)} checks: {failing} to improve"
        if not steps:
            progress(low, checked + (", none that can be fixed here" if failing else ""), True)
            break
        progress(low, f"{checked}, fixing {len(steps)}", True)
        changed = False

        def keep(candidate: Draft | None, ids: Sequence[str]) -> None:
            nonlocal current, report, changed
            if candidate is None or candidate == current:
                return
            new = analyse(job, candidate)
            if improves(new, report, ids):
                current, report, changed = candidate, new, True
                improved.extend(check_id for check_id in ids if check_id not in improved)

        for index, step in enumerate(steps):
            width = span / len(steps)
            at = low + width * index
            message = f"Fixing: {step.label} ({index + 1} of {len(steps)})"
            progress(at, message, True)
            fixer.pause()

            def done(share: float, at: float = at, width: float = width, message: str = message) -> None:
                progress(at + width * max(0.0, min(1.0, share)), message, False)

            keep(fixer.rewrite(step, current, job, done), step.ids)
            # Where the model's answer did not fix a check (or there is no model), a deterministic fix may.
            for check_id in step.ids:
                still = report.verdict(check_id)
                if check_id in OFFLINE_FIXABLE and still is not None and still.status != "good":
                    keep(_offline(current, check_id, keyphrase), (check_id,))
        if not changed:
            break
    return Outcome(current, before, report, tuple(improved))


def _offline(draft: Draft, check_id: str, keyphrase: str) -> Draft:
    content, meta_title, meta_description = apply_offline_fix(
        check_id,
        content=draft.content,
        meta_title=draft.meta_title,
        meta_description=draft.meta_description,
        keyphrase=keyphrase,
    )
    return replace(draft, content=content, meta_title=meta_title, meta_description=meta_description)


def summary(outcome: Outcome) -> str:
    """The stage's closing message: the scores it started and ended with, and what it fixed."""
    before, after = outcome.before, outcome.after
    text = (
        f"SEO {before.seo_score} to {after.seo_score}, readability {before.readability_score:.0f} to "
        f"{after.readability_score:.0f}"
    )
    count = len(outcome.improved)
    text += f"; improved {count} check{'s' if count != 1 else ''}" if count else "; nothing fixed"
    if outcome.draft.meta_derived:
        text += "; meta title and description derived from the article"
    return text
