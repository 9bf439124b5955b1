from __future__ import annotations

import pytest

from jobs.pipeline import JobInput
from jobs.pipeline.crew_events import word_starts
from jobs.pipeline.local import RideAlong
from jobs.pipeline.local_text import (
    clean_paragraph,
    dedupe_paragraphs,
    ensure_structure,
    first_line,
    meta_description,
    meta_title,
    outline_brief,
    outline_from_brief,
    parse_outline,
    section_words,
    trim_to_words,
    words_in,
)
from jobs.pipeline.pace import local_stage_seconds, offline_stage_seconds
from jobs.pipeline.seo import analyze

JOB = JobInput(
    mode="topic",
    topic="Composting in small apartments",
    keywords=[],
    source_text="",
    word_count=300,
    tone="friendly",
)
KEYWORD = "composting in small apartments"


def test_outline_is_cleaned_deduplicated_and_gets_a_keyword_heading() -> None:
    raw = (
        "Here are four topics to cover:\n\n1. Apartments and bins\n2. **Apartments and bins**\n3. Headings\n"
        '- "What to compost"\nA stray line of the preamble\n4. Section 3: Composting smells\n5. Title #3\n'
        "6. [Topic 2] - Apartment composting tips\n7. [Name] (Sofia) on a blog\n8. " + "compost " * 40
    )
    headings = parse_outline(raw, JOB)
    assert headings[0] == f"Why {KEYWORD} matters"
    assert headings[1:] == [
        "Apartments and bins",
        "What to compost",
        "Composting smells",
        "Apartment composting tips",
    ]


def test_an_empty_outline_is_padded_to_enough_sections() -> None:
    assert len(parse_outline("", JOB)) >= 3


def test_the_outline_survives_the_round_trip_through_the_brief() -> None:
    headings = ["Why it matters", "Choosing a bin"]
    assert outline_from_brief("context...\n" + outline_brief(JOB, headings) + "\nmore") == headings


def test_repeated_sentences_and_paragraphs_are_cut() -> None:
    text = (
        "# T\n\nWorms eat scraps. Worms eat scraps! Bins stay small.\n\n## A\n\nBins stay small.\n\n"
        "## B\n\nA new idea here.\n\nWorms eat scraps. Bins stay small.\n"
    )
    assert (
        dedupe_paragraphs(text) == "# T\n\nWorms eat scraps. Bins stay small.\n\n## B\n\nA new idea here.\n"
    )


def test_clean_paragraph_drops_markup_and_an_unfinished_sentence() -> None:
    seen: set[str] = set()
    assert clean_paragraph(
        "\"Sure, here's a paragraph.\n- Keep it **dry**. Add dry leaves. 1. Then the", seen
    ) == ("Keep it dry. Add dry leaves.")
    assert clean_paragraph("Add dry leaves. Something new here.", seen) == "Something new here."


def test_trim_keeps_whole_sentences_under_the_limit() -> None:
    text = "# T\n\n" + " ".join(f"Sentence number {i} is here." for i in range(40)) + "\n"
    trimmed = trim_to_words(text, 100)
    assert words_in(trimmed.replace("#", "")) <= 100
    assert trimmed.rstrip().endswith(".")


def test_structure_gets_one_title_two_sections_and_the_keyword_where_it_scores() -> None:
    article = ensure_structure("# Wrong title\n\nBins are small.\n\n# Also wrong\n\nMore text here.", JOB)
    assert article.count("\n# ") == 0 and article.startswith("# Composting in small apartments\n")
    assert article.count("## ") >= 2
    title = meta_title("", JOB)
    description = meta_description("", article, JOB)
    report = analyze(content=article, meta_title=title, meta_description=description, keyphrase=KEYWORD)
    placed = ("keyphrase_in_introduction", "keyphrase_in_meta_title", "keyphrase_in_h1", "single_h1")
    assert [getattr(report.verdict(check_id), "status", None) for check_id in placed] == ["good"] * 4


def test_meta_fields_from_the_model_are_parsed_and_kept_within_limits() -> None:
    title = first_line('\n**Title:** "Composting in Small Apartments: ' + "Long " * 20 + '"\nmore')
    assert title.startswith("Composting in Small Apartments: Long")
    fixed_title = meta_title(title, JOB)
    assert len(fixed_title) <= 60 and KEYWORD in fixed_title.lower()
    article = "# T\n\n" + " ".join(f"Bins number {i} stay tidy." for i in range(20))
    fixed = meta_description("Short one", article, JOB)
    assert 70 <= len(fixed) <= 160 and KEYWORD in fixed.lower()
    assert fixed.endswith(".") and "Short one" not in fixed


@pytest.mark.parametrize("title", ["", "Bins", "Ten tips"])
def test_a_title_without_the_keyword_is_replaced(title: str) -> None:
    fixed = meta_title(title, JOB)
    assert KEYWORD in fixed.lower() and 30 <= len(fixed) <= 60


def test_sections_share_the_requested_length_within_bounds() -> None:
    assert section_words(300, 4) == 50
    assert section_words(5000, 4) == 140
    assert section_words(100, 6) == 40


def test_token_chunks_count_each_word_once() -> None:
    chunks = ["Comp", "ost", "ing", " is", " easy", ".", "\n\n", "Start", " small"]
    tail, total = "", 0
    for chunk in chunks:
        total += word_starts(tail, chunk)
        tail += chunk
    assert total == 5


def test_priors_follow_the_models_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "70")
    normal = sum(offline_stage_seconds("topic", 1000).values())
    monkeypatch.setenv("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "140")
    assert sum(offline_stage_seconds("topic", 1000).values()) < normal
    assert 20 <= normal <= 45
    assert sum(local_stage_seconds("topic", 1000, 50.0).values()) > sum(
        local_stage_seconds("topic", 1000, 100.0).values()
    )


def test_ride_along_sends_the_copy_in_step_with_the_models_tokens() -> None:
    sent: list[str] = []
    text = " ".join(f"w{i}" for i in range(100))
    riding = RideAlong(sent.append, text, expected_tokens=10)
    for n in range(5):
        riding(f"<t{n}>")
    copied = "".join(c for c in sent if not c.startswith("<t"))
    assert copied.split() == [f"w{i}" for i in range(50)]
    assert sent[0] == "<t0>" and sent[1].split() == [f"w{i}" for i in range(10)]
    for n in range(5, 30):  # more tokens than expected: the copy is done, only tokens pass
        riding(f"<t{n}>")
    riding.finish()
    assert "".join(c for c in sent if not c.startswith("<t")) == text
