"""The analyzer's entry point: every check's verdict and the two weighted scores."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .checks import LABELS, run_checks
from .context import Context
from .keyphrase import Topic
from .text import parse
from .verdict import MAX_SCORE, Group, Verdict

WEIGHTS: dict[str, int] = {
    "keyphrase_in_introduction": 3,
    "keyphrase_in_meta_title": 3,
    "keyphrase_density": 3,
    "text_length": 3,
    "keyphrase_in_meta_description": 2,
    "keyphrase_in_h1": 2,
    "keyphrase_in_subheadings": 2,
    "meta_title_length": 2,
    "meta_description_length": 2,
    "meta_description_duplicates": 2,
    "outbound_links": 2,
    "single_h1": 2,
    "subheading_distribution": 2,
    "keyphrase_length": 1,
    "internal_links": 1,
    "image_alt": 1,
    "sentence_length": 3,
    "flesch_reading_ease": 3,
    "repeated_phrases": 3,
    "paragraph_length": 2,
    "passive_voice": 2,
    "transition_words": 2,
    "consecutive_sentences": 2,
}
"""How much each check counts in its group's score (0-100 = weighted mean of the 0-9 scores, times 100/9).

Yoast averages its assessments with equal weight; here the checks a reader or a search engine notices first
weigh 3: the keyphrase in the introduction and the meta title (the snippet people click), keyword stuffing
(a spam signal) and the length the article was ordered at, and, for reading, long sentences, Flesch reading
ease and template-like repetition. Weight 1 goes to what the writer cannot always control: the keyphrase's
length is the user's choice, internal links need pages the pipeline does not know, and an image is optional.
Everything else weighs 2.
"""


@dataclass(frozen=True)
class Report:
    seo_score: int
    readability_score: float
    checks: list[Verdict]

    def as_dicts(self) -> list[dict[str, str | int]]:
        return [verdict.as_dict() for verdict in self.checks]

    def verdict(self, check_id: str) -> Verdict | None:
        return next((verdict for verdict in self.checks if verdict.id == check_id), None)


def group_score(verdicts: Sequence[Verdict], group: Group) -> float:
    """The weighted mean of the group's scores on a 0-100 scale; 0 when no check of the group applies."""
    mine = [verdict for verdict in verdicts if verdict.group == group]
    total = sum(WEIGHTS[verdict.id] * MAX_SCORE for verdict in mine)
    if not total:
        return 0.0
    return 100 * sum(WEIGHTS[verdict.id] * verdict.score for verdict in mine) / total


def context_for(
    *,
    content: str,
    meta_title: str,
    meta_description: str,
    keyphrase: str,
    synonyms: Sequence[str] = (),
    target_words: int | None = None,
    sources: int = 0,
) -> Context:
    return Context(
        doc=parse(content),
        topic=Topic.of(keyphrase, synonyms),
        keyphrase_text=keyphrase,
        meta_title=meta_title,
        meta_description=meta_description,
        target_words=target_words,
        sources=sources,
    )


def analyze(
    *,
    content: str,
    meta_title: str,
    meta_description: str,
    keyphrase: str,
    synonyms: Sequence[str] = (),
    target_words: int | None = None,
    sources: int = 0,
) -> Report:
    """Score a Markdown article for on-page SEO and readability; pure, and linear in the input's size."""
    ctx = context_for(
        content=content,
        meta_title=meta_title,
        meta_description=meta_description,
        keyphrase=keyphrase,
        synonyms=synonyms,
        target_words=target_words,
        sources=sources,
    )
    verdicts = run_checks(ctx)
    return Report(
        seo_score=round(group_score(verdicts, "seo")),
        readability_score=round(group_score(verdicts, "readability"), 1),
        checks=verdicts,
    )


GROUP_LABELS: dict[str, str] = {"seo": "SEO", "readability": "Readability"}
# The words that go with each status wherever a report is shown, so that colour is never the only signal.
STATUS_LABELS: dict[str, str] = {"problem": "Problem", "ok": "Improve", "good": "Good"}
_STATUS_ORDER = {"problem": 0, "ok": 1, "good": 2}


def report_groups(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A stored report (``Report.as_dicts``) as people read it: SEO then readability, problems first, each
    verdict with its check's label and its status in words. Unknown ids and statuses are shown as given."""
    groups: dict[str, list[dict[str, Any]]] = {group: [] for group in GROUP_LABELS}
    for row in rows:
        status = str(row.get("status", ""))
        verdict = {
            "id": str(row.get("id", "")),
            "label": LABELS.get(str(row.get("id", "")), str(row.get("id", ""))),
            "status": status,
            "status_label": STATUS_LABELS.get(status, status),
            "score": row.get("score"),
            "message": str(row.get("message", "")),
        }
        groups.setdefault(str(row.get("group", "")), []).append(verdict)
    return [
        {
            "group": group,
            "label": GROUP_LABELS.get(group, group.title()),
            "verdicts": sorted(verdicts, key=lambda verdict: _STATUS_ORDER.get(verdict["status"], 3)),
            "counts": {status: sum(v["status"] == status for v in verdicts) for status in STATUS_LABELS},
        }
        for group, verdicts in groups.items()
        if verdicts
    ]


def report_summary(rows: Iterable[Mapping[str, Any]]) -> str:
    """One line: "2 problems (Keyphrase density, Sentence length), 3 to improve, 18 good"."""
    verdicts = [verdict for group in report_groups(rows) for verdict in group["verdicts"]]
    if not verdicts:
        return "no report"
    problems = [verdict["label"] for verdict in verdicts if verdict["status"] == "problem"]
    count = sum(verdict["status"] == "ok" for verdict in verdicts)
    good = sum(verdict["status"] == "good" for verdict in verdicts)
    first = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
    first += f" ({', '.join(problems)})" if problems else ""
    return f"{first}, {count} to improve, {good} good"
