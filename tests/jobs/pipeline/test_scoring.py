from __future__ import annotations

import time

from jobs.pipeline.scoring import (
    clip_meta_description,
    clip_meta_title,
    headings_of,
    keyword_density,
    plain_text,
    readability,
    seo_score,
    word_count,
)

ARTICLE = """# Composting at home: a simple guide

Composting at home turns scraps into soil. It takes a bin and a little patience.

## Why composting at home works

Food waste breaks down fast when it has air. Turn the pile once a week.

## Getting started

- Pick a bin with a lid.
- Mix greens and browns.

Check the pile after a month.
"""


def test_plain_text_strips_markdown() -> None:
    text = plain_text("## A [link](http://x.y) and **bold**\n\n- item one")
    assert text == "A link and bold.\nitem one."


def test_word_count_ignores_markup() -> None:
    assert word_count("# Hello world\n\n**One** two, three-four.") == 5
    assert word_count("") == 0


def test_readability_is_clamped_and_rounded() -> None:
    score = readability(ARTICLE)
    assert 0.0 <= score <= 100.0
    assert round(score, 1) == score
    assert readability("") == 0.0
    long_words = "Institutionalization characteristically necessitates incomprehensibility. " * 3
    assert readability(long_words) == 0.0


def test_keyword_density_counts_phrase_per_hundred_words() -> None:
    assert keyword_density("cats and dogs and cats", "cats") == 40.0
    assert keyword_density("nothing here", "") == 0.0


def test_seo_score_full_marks() -> None:
    body = " ".join(["Plain filler sentence here."] * 40)
    content = (
        "# Composting at home made easy\n\nComposting at home is simple.\n\n"
        f"## Why composting at home\n\n{body}\n\n## Next steps\n\n{body}\n"
    )
    title = "Composting at home: a practical guide"
    description = (
        "Learn composting at home step by step: bins, greens, browns and the mistakes to avoid early."
    )
    assert seo_score(content, title, description, "composting at home") == 100


def test_seo_score_components() -> None:
    assert seo_score("", "", "", "") == 0
    assert seo_score("# One\n\n## Two\n\n## Three", "", "", "") == 15
    assert seo_score("text", "Short", "x" * 20, "") == 5 + 7
    assert seo_score("text", "x" * 61, "x" * 161, "") == 0
    partial = seo_score(ARTICLE, "Composting at home: a simple guide", "x" * 100, "composting at home")
    assert 0 < partial < 100


def test_clip_meta_title_cuts_at_word_boundary() -> None:
    title = "Composting in small apartments: the complete practical guide for busy beginners"
    clipped = clip_meta_title(title)
    assert len(clipped) <= 60
    assert title.startswith(clipped)
    assert not clipped.endswith((" ", ":"))
    assert title.split()[len(clipped.split()) - 1] == clipped.split()[-1]
    assert clip_meta_title("Short title") == "Short title"


def test_clip_meta_description_limit() -> None:
    text = "word " * 60
    clipped = clip_meta_description(text)
    assert len(clipped) <= 160
    assert clipped.endswith("word")
    assert len(clip_meta_description("x" * 300)) == 160


def test_headings_are_found_with_their_closing_hashes_stripped() -> None:
    assert headings_of("# Title #\n\ntext\n## Part two   ##  \n#no space\n####### seven\n") == [
        ("#", "Title"),
        ("##", "Part two"),
    ]


def test_a_10000_character_heading_line_is_read_in_linear_time() -> None:
    """The old pattern backtracked cubically on such a line: 1,000 spaces took 4.5 s, so 10,000 would take
    over an hour. The bound is a thousand times what a linear read takes, not a measure of its speed."""
    for line in ("# a" + " " * 10_000 + "b", "# " + " " * 10_000, "#" + " \t" * 5_000 + "#" * 3 + " x"):
        started = time.perf_counter()
        headings_of(line + "\n\nBody text.")
        assert time.perf_counter() - started < 10
