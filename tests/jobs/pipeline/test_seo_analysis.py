"""The SEO/readability analyzer against a set of written articles, each with a known defect or none."""

from __future__ import annotations

import json
import random
import re
import string
import subprocess
import sys
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from jobs.pipeline.seo import FIX_ORDER, WEIGHTS, Report, analyze, apply_offline_fix, instruction
from jobs.pipeline.seo.checks import CHECK_IDS, CHECKS
from jobs.pipeline.seo.text import parse
from tests.hostile import HOSTILE

ARTICLES = Path(__file__).with_name("seo_articles")
MANIFEST: dict[str, dict[str, Any]] = json.loads((ARTICLES / "manifest.json").read_text())
CLEAN = sorted(name for name, entry in MANIFEST.items() if entry["clean"])
DEFECTIVE = sorted(name for name, entry in MANIFEST.items() if not entry["clean"])
GROUP_OF = {check.id: check.group for check in CHECKS}
REQUIRED_DEFECTS = {
    "keyphrase_density",
    "keyphrase_in_introduction",
    "meta_description_duplicates",
    "subheading_distribution",
    "sentence_length",
    "passive_voice",
    "repeated_phrases",
    "transition_words",
    "consecutive_sentences",
    "paragraph_length",
    "meta_title_length",
    "single_h1",
    "keyphrase_in_subheadings",
    "text_length",
}
# Generous: 100,000 characters take well under a second; this only catches a runaway pattern.
TIME_GUARD_SECONDS = 10.0


def _inputs(name: str) -> dict[str, Any]:
    entry = MANIFEST[name]
    return {
        "content": (ARTICLES / entry["file"]).read_text(),
        "meta_title": entry["meta_title"],
        "meta_description": entry["meta_description"],
        "keyphrase": entry["keyphrase"],
        "synonyms": entry["synonyms"],
        "target_words": entry["target_words"],
        "sources": entry["sources"],
    }


@cache
def _report(name: str) -> Report:
    return analyze(**_inputs(name))


def _status(report: Report, check_id: str) -> str:
    verdict = report.verdict(check_id)
    assert verdict is not None, f"{check_id} is missing from the report"
    return verdict.status


def _assert_message_rules(message: str) -> None:
    assert message[:1].isupper() or message[:1].isdigit(), message
    assert message.endswith("."), message
    assert not re.search(r"[.!?]\s", message), f"more than one sentence: {message}"
    assert "<" not in message and ">" not in message, message
    assert len(message) <= 200, message


# The fixture set


def test_the_fixture_set_has_every_required_defect_and_two_clean_articles() -> None:
    expected = {check_id for name in DEFECTIVE for check_id in MANIFEST[name]["expect_problem"]}
    assert expected >= REQUIRED_DEFECTS
    assert len(MANIFEST) >= 14
    assert len(CLEAN) >= 2


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_fixture_articles_run_300_to_1300_words(name: str) -> None:
    words = parse(_inputs(name)["content"]).word_count
    assert 300 <= words <= 1300


# Verdicts on the fixtures


@pytest.mark.parametrize(
    ("name", "check_id"),
    [(name, check_id) for name in DEFECTIVE for check_id in MANIFEST[name]["expect_problem"]],
)
def test_each_defect_is_reported_as_a_problem(name: str, check_id: str) -> None:
    verdict = _report(name).verdict(check_id)
    assert verdict is not None
    assert verdict.status == "problem"
    assert verdict.score <= 4


@pytest.mark.parametrize("name", CLEAN)
def test_clean_articles_pass_every_check(name: str) -> None:
    report = _report(name)
    statuses = [verdict.status for verdict in report.checks]
    assert "problem" not in statuses
    assert statuses.count("good") >= 0.8 * len(statuses)
    assert report.seo_score >= 80
    assert report.readability_score >= 80


def test_clean_articles_outscore_every_defective_article_in_the_defect_group() -> None:
    for defective in DEFECTIVE:
        groups = {GROUP_OF[check_id] for check_id in MANIFEST[defective]["expect_problem"]}
        for clean in CLEAN:
            if "seo" in groups:
                assert _report(clean).seo_score > _report(defective).seo_score, (clean, defective)
            if "readability" in groups:
                assert _report(clean).readability_score > _report(defective).readability_score, (
                    clean,
                    defective,
                )


@pytest.mark.parametrize(
    ("name", "check_id", "score", "figure"),
    [
        ("stuffed_trail_running_shoes", "keyphrase_density", 0, "appears 34 times in 349 words (9.7%)"),
        (
            "missing_subheading_keyphrase_rainwater_harvesting",
            "keyphrase_in_subheadings",
            3,
            "in 0 of 6 subheadings",
        ),
        ("short_text_meal_prep", "text_length", 1, "306 words against a target of 1,200 (74% short)"),
        ("long_title_smartphone_photography", "meta_title_length", 3, "has 103 characters"),
        ("two_h1_remote_work_routine", "single_h1", 1, "has 2 H1 headings"),
        ("wall_of_text_history_of_the_bicycle", "subheading_distribution", 2, "runs 1,172 words without"),
        (
            "long_paragraphs_cold_brew_coffee",
            "paragraph_length",
            3,
            "3 of 5 paragraphs have more than 150 words",
        ),
        ("long_sentences_monthly_budget_plan", "sentence_length", 3, "14 of 14 sentences (100%)"),
        ("consecutive_starts_winter_camping", "consecutive_sentences", 3, "5 beginning with “you”"),
        ("slot_filled_puppy_training", "repeated_phrases", 3, "“when it comes to” occurs 12 times"),
        (
            "repetitive_description_green_tea",
            "meta_description_duplicates",
            3,
            "“green tea benefits” 4 times",
        ),
        ("no_transitions_low_light_houseplants", "transition_words", 3, "1 of 48 sentences (2%)"),
    ],
)
def test_verdicts_give_the_figures_behind_them(name: str, check_id: str, score: int, figure: str) -> None:
    verdict = _report(name).verdict(check_id)
    assert verdict is not None
    assert verdict.score == score
    assert figure in verdict.message


def test_keyphrase_at_the_start_of_the_title_is_good_and_elsewhere_ok() -> None:
    inputs = _inputs("clean_bike_commuting")
    assert _status(analyze(**inputs), "keyphrase_in_meta_title") == "good"
    elsewhere = analyze(**{**inputs, "meta_title": "A calm start: bike commuting for beginners"})
    assert _status(elsewhere, "keyphrase_in_meta_title") == "ok"
    absent = analyze(**{**inputs, "meta_title": "A calm start for new riders"})
    assert _status(absent, "keyphrase_in_meta_title") == "problem"


def test_a_synonym_in_the_introduction_is_ok() -> None:
    inputs = _inputs("clean_bike_commuting")
    content = inputs["content"].replace("Bike commuting can make", "Cycling to work can make", 1)
    with_synonym = analyze(**{**inputs, "content": content})
    assert _status(with_synonym, "keyphrase_in_introduction") == "ok"
    without = analyze(**{**inputs, "content": content, "synonyms": []})
    assert _status(without, "keyphrase_in_introduction") == "problem"


def test_meta_description_length_bands() -> None:
    inputs = _inputs("clean_bike_commuting")
    lengths = {120: "ok", 121: "good", 156: "good", 157: "ok", 0: "problem"}
    for length, status in lengths.items():
        description = ("bike commuting " + "x" * 200)[:length]
        assert (
            _status(analyze(**{**inputs, "meta_description": description}), "meta_description_length")
            == status
        )


def test_checks_that_do_not_apply_are_left_out() -> None:
    with_sources = {verdict.id for verdict in _report("clean_sourdough_starter").checks}
    assert {"outbound_links", "internal_links", "image_alt"} <= with_sources
    without = {verdict.id for verdict in _report("clean_bike_commuting").checks}
    assert not {"outbound_links", "internal_links", "image_alt"} & without


def test_citations_count_as_outbound_links_only_inside_the_text() -> None:
    inputs = _inputs("clean_sourdough_starter")
    assert _status(analyze(**inputs), "outbound_links") == "good"
    uncited = re.sub(r"\[\d\]", "", inputs["content"])
    verdict = analyze(**{**inputs, "content": uncited}).verdict("outbound_links")
    assert verdict is not None
    assert verdict.status == "ok"
    assert "cites 0 of its 3 sources" in verdict.message
    bare = analyze(**{**inputs, "content": uncited.split("## Sources")[0]}).verdict("outbound_links")
    assert bare is not None
    assert bare.status == "problem"


def test_an_empty_keyphrase_is_a_problem_and_skips_the_keyphrase_checks() -> None:
    report = analyze(**{**_inputs("clean_bike_commuting"), "keyphrase": ""})
    assert _status(report, "keyphrase_length") == "problem"
    assert report.verdict("keyphrase_density") is None
    assert report.verdict("keyphrase_in_introduction") is None


# Shape and scores


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_verdicts_have_the_documented_shape(name: str) -> None:
    report = _report(name)
    rows = report.as_dicts()
    assert json.loads(json.dumps(rows)) == rows
    assert [row["id"] for row in rows] == [check_id for check_id in CHECK_IDS if report.verdict(check_id)]
    for row in rows:
        assert set(row) == {"id", "group", "status", "score", "message"}
        assert row["group"] == GROUP_OF[str(row["id"])]
        assert isinstance(row["score"], int)
        assert 0 <= row["score"] <= 9
        expected = "good" if row["score"] >= 8 else "ok" if row["score"] >= 5 else "problem"
        assert row["status"] == expected
    assert isinstance(report.seo_score, int)
    assert 0 <= report.seo_score <= 100
    assert 0.0 <= report.readability_score <= 100.0
    assert round(report.readability_score, 1) == report.readability_score


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_messages_are_one_sentence_without_markup(name: str) -> None:
    for verdict in _report(name).checks:
        _assert_message_rules(verdict.message)


def test_messages_echo_at_most_60_characters_of_user_text() -> None:
    keyphrase = "<script>alert(1)</script> best. Trail shoes! for " + "very " * 40 + "long runs"
    report = analyze(
        content=_inputs("stuffed_trail_running_shoes")["content"],
        meta_title=keyphrase,
        meta_description=keyphrase,
        keyphrase=keyphrase,
    )
    for verdict in report.checks:
        _assert_message_rules(verdict.message)
        for start in range(len(keyphrase) - 60):
            assert keyphrase[start : start + 61] not in verdict.message


def test_scores_are_the_weighted_mean_of_the_verdicts() -> None:
    report = _report("two_h1_remote_work_routine")
    seo = [verdict for verdict in report.checks if verdict.group == "seo"]
    expected = 100 * sum(WEIGHTS[v.id] * v.score for v in seo) / sum(WEIGHTS[v.id] * 9 for v in seo)
    assert report.seo_score == round(expected)
    assert report.seo_score == 94


def test_every_check_has_exactly_one_weight() -> None:
    assert set(WEIGHTS) == set(CHECK_IDS)
    assert all(weight in (1, 2, 3) for weight in WEIGHTS.values())


def test_the_analyzer_imports_no_django() -> None:
    forbidden = "{'django', 'rest_framework', 'channels', 'contentgen', 'progress'}"
    code = (
        f"import sys, jobs.pipeline.seo; sys.exit(any(m.split('.')[0] in {forbidden} for m in sys.modules))"
    )
    root = Path(__file__).resolve().parents[3]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0


# Hostile input


def _garbage(size: int) -> str:
    rng = random.Random(7)
    alphabet = string.printable + "“”’‘—–…#*_[]()!<>`|~"
    return "".join(rng.choice(alphabet) for _ in range(size))


HOSTILE_TEXTS = {
    "garbage": _garbage(100_000),
    "unclosed_brackets": "[" * 100_000,
    "unclosed_images": "![" * 50_000,
    "unclosed_links": "[a](" * 25_000,
    "spaces_then_text": " " * 99_990 + "<script>",
    "lines_of_spaces": (" " * 900 + "\n") * 110,
    "heading_of_spaces": "# " + " " * 99_990 + "#x",
    "table_rule_of_spaces": "|" + " " * 99_990 + "-",
    "dots": "." * 100_000,
    "one_long_word": "a" * 100_000,
    "fences": "```\n" * 25_000,
    "script_tags": "<script>alert(1)</script>" * 4_000,
    "many_sentences": "Word. " * 16_000,
    "markup_soup": "\n\n".join(HOSTILE.values()) * 150,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_TEXTS))
def test_hostile_input_is_analysed_in_bounded_time(name: str) -> None:
    text = HOSTILE_TEXTS[name]
    started = time.perf_counter()
    report = analyze(
        content=text,
        meta_title=text[:500],
        meta_description=text[:500],
        keyphrase=text[:200],
        synonyms=[text[:100]],
        target_words=800,
        sources=3,
    )
    assert time.perf_counter() - started < TIME_GUARD_SECONDS
    assert 0 <= report.seo_score <= 100
    assert 0.0 <= report.readability_score <= 100.0
    for verdict in report.checks:
        _assert_message_rules(verdict.message)


def test_empty_input_scores_zero_readability() -> None:
    report = analyze(content="", meta_title="", meta_description="", keyphrase="")
    assert report.readability_score == 0.0
    assert _status(report, "text_length") == "problem"
    assert _status(report, "meta_title_length") == "problem"


# The fix plan


def test_fix_order_names_every_check_once() -> None:
    assert sorted(FIX_ORDER) == sorted(CHECK_IDS)


@pytest.mark.parametrize("name", DEFECTIVE)
def test_each_failing_verdict_gets_an_instruction(name: str) -> None:
    keyphrase = MANIFEST[name]["keyphrase"]
    for verdict in _report(name).checks:
        text = instruction(verdict, keyphrase=keyphrase)
        if verdict.status == "good":
            assert text == ""
            continue
        assert text.startswith(verdict.message)
        assert text.endswith(
            "Change only what this fix needs and keep every other sentence, heading, link and citation as it is."
        )
        assert "<" not in text


def test_instructions_quote_the_keyphrase() -> None:
    verdict = _report("no_intro_keyphrase_home_office_lighting").verdict("keyphrase_in_introduction")
    assert verdict is not None
    text = instruction(verdict, keyphrase="home office lighting")
    assert "contains the exact phrase “home office lighting”" in text


FIX_CASES = [
    ("single_h1", "two_h1_remote_work_routine", "good"),
    ("keyphrase_in_h1", "no_intro_keyphrase_home_office_lighting", "good"),
    ("keyphrase_in_introduction", "no_intro_keyphrase_home_office_lighting", "good"),
    ("keyphrase_in_meta_title", "no_intro_keyphrase_home_office_lighting", "good"),
    ("keyphrase_in_meta_title", "long_title_smartphone_photography", "good"),
    ("meta_title_length", "long_title_smartphone_photography", "good"),
    ("image_alt", "long_title_smartphone_photography", "good"),
    ("subheading_distribution", "wall_of_text_history_of_the_bicycle", "good"),
    ("paragraph_length", "long_paragraphs_cold_brew_coffee", "good"),
    ("sentence_length", "long_paragraphs_cold_brew_coffee", "problem"),
    ("sentence_length", "long_sentences_monthly_budget_plan", "problem"),
    ("flesch_reading_ease", "long_sentences_monthly_budget_plan", "ok"),
    ("repeated_phrases", "slot_filled_puppy_training", "good"),
    ("repeated_phrases", "stuffed_trail_running_shoes", "good"),
    ("keyphrase_density", "stuffed_trail_running_shoes", "good"),
    ("keyphrase_density", "slot_filled_puppy_training", "good"),
    ("keyphrase_in_subheadings", "missing_subheading_keyphrase_rainwater_harvesting", "good"),
    ("consecutive_sentences", "consecutive_starts_winter_camping", "good"),
    ("meta_description_duplicates", "repetitive_description_green_tea", "good"),
    ("keyphrase_in_meta_description", "repetitive_description_green_tea", "good"),
    ("meta_description_length", "short_text_meal_prep", "good"),
]


def _long_sentence_share(content: str) -> float:
    sentences = parse(content).sentences
    return sum(1 for sentence in sentences if len(sentence.words) > 20) / len(sentences)


@pytest.mark.parametrize(("check_id", "name", "after"), FIX_CASES)
def test_an_offline_fix_improves_its_own_check(check_id: str, name: str, after: str) -> None:
    inputs = _inputs(name)
    before = analyze(**inputs).verdict(check_id)
    assert before is not None
    assert before.status != "good"
    content, meta_title, meta_description = apply_offline_fix(
        check_id,
        content=inputs["content"],
        meta_title=inputs["meta_title"],
        meta_description=inputs["meta_description"],
        keyphrase=inputs["keyphrase"],
    )
    fixed = analyze(
        **{**inputs, "content": content, "meta_title": meta_title, "meta_description": meta_description}
    )
    verdict = fixed.verdict(check_id)
    assert verdict is not None
    assert verdict.score >= before.score
    assert verdict.status == after
    if check_id == "sentence_length":
        assert _long_sentence_share(content) < _long_sentence_share(inputs["content"])
    else:
        assert verdict.score > before.score


def test_the_title_fix_moves_the_keyphrase_to_the_front_within_60_characters() -> None:
    inputs = _inputs("no_intro_keyphrase_home_office_lighting")
    _, title, _ = apply_offline_fix(
        "keyphrase_in_meta_title",
        content=inputs["content"],
        meta_title=inputs["meta_title"],
        meta_description=inputs["meta_description"],
        keyphrase=inputs["keyphrase"],
    )
    assert title == "Home office lighting: a brighter desk that helps you focus"


def test_the_h1_fix_demotes_the_second_h1_only() -> None:
    inputs = _inputs("two_h1_remote_work_routine")
    content, _, _ = apply_offline_fix(
        "single_h1", **{k: inputs[k] for k in ("content", "meta_title", "meta_description", "keyphrase")}
    )
    assert content.count("\n# ") == 0
    assert content.startswith("# Build a Remote Work Routine That Lasts\n")
    assert "\n## Plan your remote work routine around energy\n" in content
    assert content.replace("\n## Plan your", "\n# Plan your") == inputs["content"]


@pytest.mark.parametrize("check_id", sorted(FIX_ORDER))
@pytest.mark.parametrize("name", CLEAN)
def test_a_fix_changes_nothing_when_its_check_passes(check_id: str, name: str) -> None:
    inputs = _inputs(name)
    original = (inputs["content"], inputs["meta_title"], inputs["meta_description"])
    fixed = apply_offline_fix(
        check_id,
        content=inputs["content"],
        meta_title=inputs["meta_title"],
        meta_description=inputs["meta_description"],
        keyphrase=inputs["keyphrase"],
    )
    assert fixed == original


@pytest.mark.parametrize("name", ["garbage", "unclosed_links", "many_sentences", "markup_soup"])
def test_offline_fixes_survive_hostile_input(name: str) -> None:
    text = HOSTILE_TEXTS[name][:20_000]
    for check_id in FIX_ORDER:
        started = time.perf_counter()
        fixed = apply_offline_fix(
            check_id, content=text, meta_title=text[:300], meta_description=text[:300], keyphrase=text[:40]
        )
        assert time.perf_counter() - started < TIME_GUARD_SECONDS
        before = analyze(
            content=text, meta_title=text[:300], meta_description=text[:300], keyphrase=text[:40]
        )
        after = analyze(content=fixed[0], meta_title=fixed[1], meta_description=fixed[2], keyphrase=text[:40])
        old, new = before.verdict(check_id), after.verdict(check_id)
        if old is not None and new is not None:
            assert new.score >= old.score, check_id


def test_a_check_without_a_deterministic_fix_keeps_the_input() -> None:
    inputs = _inputs("passive_heavy_plastic_recycling")
    original = (inputs["content"], inputs["meta_title"], inputs["meta_description"])
    assert (
        apply_offline_fix(
            "passive_voice",
            **{k: inputs[k] for k in ("content", "meta_title", "meta_description", "keyphrase")},
        )
        == original
    )
