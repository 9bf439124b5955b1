"""The SEO stage after the editor's task: the report before and after, the fix passes, the derived meta."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from jobs.pipeline import JobInput, PipelineEvent, run_pipeline
from jobs.pipeline.contracts import StructuredOutputError
from jobs.pipeline.formats import is_format_failure
from jobs.pipeline.offline_text import seo_fields, write_article
from jobs.pipeline.seo import OFFLINE_FIXABLE, Report
from jobs.pipeline.seo_fixers import ModelFixer, RuleFixer
from jobs.pipeline.seo_stage import (
    MAX_PASSES,
    Draft,
    FixStep,
    analyse,
    derive_meta,
    optimise,
    parse_fields,
    problems,
    starting_draft,
    total,
)

JOBS = {
    "topic": JobInput("topic", "How to start composting on a small balcony", [], "", 800, "friendly"),
    "keywords": JobInput("keywords", "", ["sourdough starter", "bread"], "", 600, "professional"),
    "trends": JobInput("trends", "Bike commuting for beginners", [], "", 500, "casual"),
    "spin": JobInput(
        "spin", "", [], "Composting indoors is easy. A sealed bin keeps smells away.", 700, "friendly"
    ),
}


def _editor_draft(job: JobInput) -> Draft:
    """What the offline model's SEO editor hands the stage: its meta and the writer's article."""
    article = write_article(job)
    return starting_draft(job, seo_fields(job, article), article)


def _quiet(stage_progress: float, message: str, step: bool) -> None:
    pass


def _improved(before: Report, after: Report) -> list[str]:
    return [
        verdict.id
        for verdict in before.checks
        if verdict.status != "good" and (later := after.verdict(verdict.id)) and later.score > verdict.score
    ]


# The offline model's articles, before and after the stage


@pytest.mark.parametrize("mode", sorted(JOBS))
def test_the_offline_stage_never_hands_back_a_lower_total_or_more_problems(mode: str) -> None:
    job = JOBS[mode]
    outcome = optimise(job, _editor_draft(job), RuleFixer(threading.Event()), _quiet, start=90)
    assert total(outcome.after) >= total(outcome.before)
    assert problems(outcome.after) <= problems(outcome.before)


def test_the_offline_stage_fixes_a_failing_check_in_every_article_with_a_fixable_one() -> None:
    fixed = {}
    for mode, job in JOBS.items():
        outcome = optimise(job, _editor_draft(job), RuleFixer(threading.Event()), _quiet, start=90)
        fixable = [v.id for v in outcome.before.checks if v.status != "good" and v.id in OFFLINE_FIXABLE]
        assert fixable, f"{mode}: the offline article has no fixable failing check to test with"
        fixed[mode] = _improved(outcome.before, outcome.after)
    assert all(fixed.values()), fixed


def test_the_result_carries_the_report_of_the_article_it_holds() -> None:
    job = JOBS["keywords"]
    result = run_pipeline(job, completed={}, on_event=lambda event: None)
    final = Draft(result.content, result.meta_title, result.meta_description)
    report = analyse(job, final)
    assert result.seo_report == report.as_dicts()
    assert (result.seo_score, result.readability_score) == (report.seo_score, report.readability_score)
    assert result.meta_derived is False


def test_the_stage_reports_its_checks_and_each_fix_as_steps() -> None:
    job = JOBS["keywords"]
    article = write_article(job)
    events: list[PipelineEvent] = []
    run_pipeline(job, completed={"research": "A brief.", "writing": article}, on_event=events.append)
    seo = [event for event in events if event.stage == "seo" and event.kind != "usage"]
    progress = [event.stage_progress for event in seo if event.kind in ("stage_progress", "stage_step")]
    assert progress == sorted(progress) and progress[-1] < 100
    steps = [event.message for event in seo if event.kind == "stage_step"]
    assert steps[0].startswith("Checked ") and "fixing" in steps[0]
    assert any(message.startswith("Fixing: keyphrase in the H1 title (1 of ") for message in steps)
    assert seo[-1].kind == "stage_completed" and "improved" in seo[-1].message


# The passes


class _Scripted:
    """A fixer whose every step rewrites the article with ``change``: counts the passes and steps asked."""

    def __init__(self, change: Callable[[Draft], Draft]) -> None:
        self.change = change
        self.plans = 0

    def plan(self, report: Report) -> list[FixStep]:
        self.plans += 1
        failing = tuple(verdict for verdict in report.checks if verdict.status != "good")
        return [FixStep("article", failing[:1])] if failing else []

    def rewrite(self, step: FixStep, draft: Draft, job: JobInput, done: Callable[[float], None]) -> Draft:
        return self.change(draft)

    def pause(self) -> None:
        pass


def test_a_rewrite_that_lowers_the_score_is_discarded() -> None:
    job = JOBS["topic"]
    start = _editor_draft(job)
    fixer = _Scripted(lambda draft: replace(draft, content=draft.content[: len(draft.content) // 3]))
    outcome = optimise(job, start, fixer, _quiet, start=50)
    assert outcome.draft.content != start.content[: len(start.content) // 3]
    assert total(outcome.after) >= total(outcome.before)


def test_there_are_at_most_two_passes() -> None:
    job = JOBS["spin"]
    counter = {"n": 0}

    def longer(draft: Draft) -> Draft:
        counter["n"] += 1
        return replace(draft, content=draft.content + f"\n\nOne more plain sentence number {counter['n']}.\n")

    fixer = _Scripted(longer)
    optimise(job, replace(_editor_draft(job), meta_description=""), fixer, _quiet, start=50)
    assert fixer.plans == MAX_PASSES


def test_a_pass_that_changes_nothing_ends_the_stage() -> None:
    fixer = _Scripted(lambda draft: draft)
    optimise(JOBS["trends"], _editor_draft(JOBS["trends"]), fixer, _quiet, start=50)
    assert fixer.plans == 1


def test_progress_moves_from_the_start_to_under_100_and_names_each_fix() -> None:
    seen: list[tuple[float, str]] = []
    job = JOBS["keywords"]
    optimise(
        job,
        _editor_draft(job),
        RuleFixer(threading.Event()),
        lambda p, m, step: seen.append((p, m)),
        start=90,
    )
    values = [value for value, _ in seen]
    assert values == sorted(values) and values[0] >= 90 and values[-1] < 100
    assert seen[0][1].startswith("Checked ") and "to improve" in seen[0][1]
    assert [m for _, m in seen if m.startswith("Fixing: ")], seen


# The meta, given or derived

ARTICLE = (
    "# Solar panels at home: the costs, the savings and the installers worth calling first\n\n"
    "Solar panels cut bills and need a sunny roof [1]. Most homes can fit a small array. "
    "Prices fell a lot in ten years, and a typical array now pays back in about eight years.\n\n"
    "## Costs\n\nAsk two installers for quotes.\n"
)


def test_a_derived_meta_title_is_the_first_heading_within_60_characters() -> None:
    title, _ = derive_meta(ARTICLE, "fallback")
    assert title == "Solar panels at home: the costs, the savings"


def test_a_derived_description_is_the_opening_sentences_within_155_characters() -> None:
    _, description = derive_meta(ARTICLE, "fallback")
    assert description == "Solar panels cut bills and need a sunny roof. Most homes can fit a small array."
    assert len(description) <= 155 and "[1]" not in description


def test_without_a_heading_the_title_is_the_first_sentence() -> None:
    title, _ = derive_meta("Worms eat scraps. Bins stay small.", "fallback")
    assert title == "Worms eat scraps"


def test_missing_meta_fields_are_derived_and_flagged() -> None:
    job = JOBS["topic"]
    draft = starting_draft(job, {"meta_title": "", "content": ARTICLE}, ARTICLE)
    assert draft.meta_derived is True
    assert draft.meta_title.startswith("Solar panels at home")
    given = starting_draft(job, {"meta_title": "A title", "meta_description": "A description."}, ARTICLE)
    assert given.meta_derived is False and given.meta_title == "A title"


def test_an_editor_that_cuts_the_article_short_loses_to_the_writer() -> None:
    job = JOBS["topic"]
    article = write_article(job)
    fields = {**seo_fields(job, article), "content": article.split("\n\n## ")[0]}
    assert starting_draft(job, fields, article).content.strip() == article.strip()


def test_parse_fields_reads_the_json_object_in_an_answer_and_nothing_else() -> None:
    assert parse_fields('Final Answer: {"meta_title": "T"} done') == {"meta_title": "T"}
    assert parse_fields("{" * 100_000) == {}
    assert parse_fields('["a list"]') == {}
    assert parse_fields(None) == {}


def test_broken_json_is_a_format_failure_and_a_server_error_is_not() -> None:
    assert is_format_failure(StructuredOutputError("no JSON"))
    try:
        try:
            json.loads("{")
        except json.JSONDecodeError:
            error = RuntimeError("HTTP 500")
            error.status_code = 500  # type: ignore[attr-defined]
            raise error from None
    except RuntimeError as server:
        assert not is_format_failure(server)
    assert not is_format_failure(ConnectionRefusedError())


# A provider's model as the fixer


class _Model:
    """Answers each fix prompt with ``answers[part]``; records the prompts."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.prompts: list[str] = []

    def call(self, messages: list[dict[str, Any]]) -> str:
        prompt = str(messages[-1]["content"])
        self.prompts.append(prompt)
        part = next((part for part in self.answers if part in prompt), "")
        return self.answers.get(part, "I cannot help with that.")


def _model_fixer(model: _Model) -> ModelFixer:
    return ModelFixer(model, lambda callback: None, threading.Event())


def test_a_models_meta_title_replaces_the_meta_title_alone() -> None:
    job = JOBS["keywords"]
    start = replace(_editor_draft(job), meta_title="Bread at home")
    model = _Model({"meta title": "Meta title: **Sourdough starter: feed it, keep it, bake with it**"})
    outcome = optimise(job, start, _model_fixer(model), _quiet, start=50)
    assert outcome.draft.meta_title == "Sourdough starter: feed it, keep it, bake with it"
    assert any("meta title" in prompt and "“sourdough starter”" in prompt for prompt in model.prompts)
    verdict = outcome.after.verdict("keyphrase_in_meta_title")
    assert verdict is not None and verdict.status == "good"


def test_an_unusable_model_answer_falls_back_to_the_deterministic_fix() -> None:
    job = JOBS["keywords"]
    model = _Model({})
    outcome = optimise(job, _editor_draft(job), _model_fixer(model), _quiet, start=50)
    assert model.prompts
    verdict = outcome.after.verdict("keyphrase_in_h1")
    assert verdict is not None and verdict.status == "good"
    assert total(outcome.after) >= total(outcome.before)


def test_a_model_is_never_asked_for_links_or_a_shorter_keyphrase() -> None:
    job = replace(JOBS["keywords"], keywords=["the very best sourdough starter recipe for total beginners"])
    report = analyse(job, replace(_editor_draft(job), content="# Bread\n\nNo links here.\n"))
    steps = _model_fixer(_Model({})).plan(report)
    asked = {check_id for step in steps for check_id in step.ids}
    assert report.verdict("keyphrase_length") is not None
    assert not asked & {"keyphrase_length", "internal_links", "outbound_links"}
