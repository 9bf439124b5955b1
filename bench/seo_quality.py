"""Does the SEO report tell a good article from a poor one, and does the SEO stage improve what it is given?

1. The fixture set (tests/jobs/pipeline/seo_articles: clean articles and articles with one known defect
   each): the median score of the clean and of the defective ones, and the share of (clean, defective)
   pairs that each score ranks the right way round, for the report's scores beside the old 8-point
   checklist that scored jobs before issue 31.
2. N jobs through the whole pipeline (real crewAI; --model offline or local): the median `seo_score` and
   readability score, and the share of `problem` verdicts, before the SEO stage's fix passes (the editor's
   draft) and after them, beside the old checklist's score of the same articles.

Pure pipeline, no database: `python bench/seo_quality.py [--model offline|local] [--jobs 10]`. The
offline model runs unpaced and takes under a minute here; the local model needs the `local` extra.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ARTICLES = ROOT / "tests" / "jobs" / "pipeline" / "seo_articles"

TOPICS = [
    ("topic", "How to start composting on a small balcony", []),
    ("keywords", "", ["sourdough starter", "bread"]),
    ("trends", "Bike commuting for beginners", []),
    ("topic", "Choosing trail running shoes", []),
    ("keywords", "", ["home office lighting", "desk lamp"]),
    ("topic", "Rainwater harvesting for small gardens", []),
    ("trends", "Remote work routines that last", []),
    ("keywords", "", ["cold brew coffee"]),
    ("topic", "Caring for low-light houseplants", []),
    ("topic", "A monthly budget plan that works", []),
]
WORD_COUNTS = (500, 700, 900)


# The 8-point checklist that scored every job before issue 31 (jobs/pipeline/scoring.py until 01c0373),
# kept here as the baseline: each check passes or fails, and nothing reads the text itself.
def old_checklist_score(content: str, meta_title: str, meta_description: str, keyword: str) -> int:
    from jobs.pipeline.scoring import headings_of, plain_text, words_of

    def count(words: list[str], phrase: list[str]) -> int:
        size = len(phrase)
        return sum(1 for i in range(len(words) - size + 1) if words[i : i + size] == phrase) if size else 0

    def contains(text: str, phrase: list[str]) -> bool:
        return count(words_of(text.lower()), phrase) > 0

    phrase = words_of(keyword.lower())
    headings = headings_of(content)
    first = next(
        (b.strip() for b in re.split(r"\n\s*\n", content) if b.strip() and not b.strip().startswith("#")), ""
    )
    score = 0
    if phrase:
        score += 15 if contains(meta_title, phrase) else 0
        score += 15 if contains(first, phrase) else 0
        score += 10 if any(contains(text, phrase) for _, text in headings) else 0
        words = words_of(plain_text(content).lower())
        density = 100.0 * count(words, phrase) / len(words) if words else 0.0
        score += 20 if 0.5 <= density <= 2.5 else 10 if 0.25 <= density <= 4.0 else 0
    title = len(meta_title.strip())
    score += 10 if 30 <= title <= 60 else 5 if 0 < title < 30 else 0
    description = len(meta_description.strip())
    score += 15 if 70 <= description <= 160 else 7 if 0 < description < 70 else 0
    levels = [len(marks) for marks, _ in headings]
    score += 8 if levels.count(1) == 1 else 0
    score += 7 if levels.count(2) >= 2 else 0
    return score


@dataclass(frozen=True)
class Scored:
    seo: float
    readability: float
    problem_share: float
    old: float


def scored(report: Any, content: str, meta_title: str, meta_description: str, keyword: str) -> Scored:
    problems = sum(1 for verdict in report.checks if verdict.status == "problem")
    return Scored(
        seo=report.seo_score,
        readability=report.readability_score,
        problem_share=problems / len(report.checks) if report.checks else 0.0,
        old=old_checklist_score(content, meta_title, meta_description, keyword),
    )


def ranked_right(clean: list[float], defective: list[float]) -> float:
    """The share of (clean, defective) pairs in which the clean article scores higher (ties count half)."""
    pairs = list(product(clean, defective))
    return sum(1.0 if c > d else 0.5 if c == d else 0.0 for c, d in pairs) / len(pairs)


def fixture_set() -> None:
    from jobs.pipeline.seo import analyze

    manifest: dict[str, dict[str, Any]] = json.loads((ARTICLES / "manifest.json").read_text())
    rows: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    for entry in manifest.values():
        content = (ARTICLES / entry["file"]).read_text()
        report = analyze(
            content=content,
            meta_title=entry["meta_title"],
            meta_description=entry["meta_description"],
            keyphrase=entry["keyphrase"],
            synonyms=entry["synonyms"],
            target_words=entry["target_words"],
            sources=entry["sources"],
        )
        new = (report.seo_score + report.readability_score) / 2
        old = old_checklist_score(content, entry["meta_title"], entry["meta_description"], entry["keyphrase"])
        rows[bool(entry["clean"])].append((new, old))
    clean, defective = rows[True], rows[False]
    print(f"\n1. Fixture set: {len(clean)} clean articles, {len(defective)} with one known defect each")
    print("| score | median, clean | median, defective | pairs ranked right |")
    print("|---|---|---|---|")
    for name, index in (("report (mean of SEO and readability)", 0), ("old 8-point checklist", 1)):
        c, d = [row[index] for row in clean], [row[index] for row in defective]
        print(
            f"| {name} | {statistics.median(c):.1f} | {statistics.median(d):.1f} | "
            f"{100 * ranked_right(c, d):.0f}% |"
        )


@contextmanager
def recording(outcomes: list[Any]) -> Iterator[None]:
    """Keeps each SEO stage's starting draft and outcome (its report before and after the fix passes)."""
    from jobs.pipeline import seo_stage

    original: Callable[..., Any] = seo_stage.optimise

    def optimise(job: Any, draft: Any, *args: Any, **kwargs: Any) -> Any:
        outcome = original(job, draft, *args, **kwargs)
        outcomes.append((draft, outcome))
        return outcome

    seo_stage.optimise = optimise  # type: ignore[assignment]
    try:
        yield
    finally:
        seo_stage.optimise = original  # type: ignore[assignment]


def jobs(model: str, count: int) -> None:
    from jobs.pipeline import JobInput, run_pipeline
    from jobs.pipeline.seo_stage import keyphrase_for

    before: list[Scored] = []
    after: list[Scored] = []
    fixed: list[int] = []
    started = time.monotonic()
    for number in range(count):
        mode, topic, keywords = TOPICS[number % len(TOPICS)]
        job = JobInput(mode, topic, keywords, "", WORD_COUNTS[number % len(WORD_COUNTS)], "friendly")
        outcomes: list[Any] = []
        with recording(outcomes):
            result = run_pipeline(job, completed={}, on_event=lambda event: None, llm_name=model)
        ((start, outcome),) = outcomes
        keyword = keyphrase_for(job)
        first, last, draft = outcome.before, outcome.after, outcome.draft
        before.append(scored(first, start.content, start.meta_title, start.meta_description, keyword))
        after.append(scored(last, draft.content, draft.meta_title, draft.meta_description, keyword))
        fixed.append(len(outcome.improved))
        assert result.seo_score == last.seo_score
        print(
            f"  job {number + 1}: {mode}, {job.word_count} words: SEO {first.seo_score} -> {last.seo_score}, "
            f"readability {first.readability_score:.0f} -> {last.readability_score:.0f}, "
            f"{len(outcome.improved)} check(s) improved" + (", meta derived" if draft.meta_derived else ""),
            flush=True,
        )
    wall = time.monotonic() - started

    def median(rows: list[Scored], name: str) -> str:
        return f"{statistics.median(getattr(row, name) for row in rows):.1f}"

    print(
        f"\n2. {count} jobs on the {model} model ({wall:.0f} s), before and after the SEO stage's fix passes"
    )
    print("| | median seo_score | median readability_score | problem verdicts | old checklist (median) |")
    print("|---|---|---|---|---|")
    for label, rows in (("before (the editor's draft)", before), ("after (the result)", after)):
        share = 100 * sum(row.problem_share for row in rows) / len(rows)
        print(
            f"| {label} | {median(rows, 'seo')} | {median(rows, 'readability')} | {share:.1f}% | "
            f"{median(rows, 'old')} |"
        )
    print(
        f"Checks improved per job: median {statistics.median(fixed):.0f} (min {min(fixed)}, "
        f"max {max(fixed)}); jobs with at least one: {sum(1 for n in fixed if n)} of {count}."
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", choices=("offline", "local"), default="offline")
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (default: every CPU)")
    args = parser.parse_args()
    os.environ.setdefault("CONTENTGEN_VAR_DIR", str(ROOT / "var"))
    os.environ["CONTENTGEN_OFFLINE_TOKENS_PER_SECOND"] = "0"
    if args.threads:
        os.environ["CONTENTGEN_LOCAL_THREADS"] = str(args.threads)
    print(f"load average: {os.getloadavg()[0]:.1f}")
    fixture_set()
    jobs(args.model, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
