from __future__ import annotations

import time

import pytest

from jobs.pipeline.scoring import (
    clip_meta_description,
    clip_meta_title,
    headings_of,
    plain_text,
    word_count,
)


def test_plain_text_strips_markdown() -> None:
    text = plain_text("## A [link](http://x.y) and **bold**\n\n- item one")
    assert text == "A link and bold.\nitem one."


def test_word_count_ignores_markup() -> None:
    assert word_count("# Hello world\n\n**One** two, three-four.") == 5
    assert word_count("") == 0


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


# Generous: each of these takes milliseconds; the patterns they replace took seconds at a fifth of the size
# (20,000 unclosed brackets 2.9 s, 20,000 spaces before a letter 7.5 s) and grew with its square.
TIME_GUARD_SECONDS = 5.0
HOSTILE_MARKDOWN = {
    "unclosed_brackets": "[" * 100_000,
    "unclosed_images": "![" * 50_000,
    "unclosed_links": "[a](" * 25_000,
    "nested_parentheses": "[a](" + "(b)" * 30_000,
    "links_inside_an_unclosed_url": "[a](b" + "[c](d)" * 15_000,
    "spaces_then_a_letter": " " * 100_000 + "x",
    "table_bar_then_spaces": "|" + " " * 100_000 + "x",
    "unclosed_fences": "```a\n" * 25_000,
    "closed_fences": "```\n" * 25_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE_MARKDOWN))
def test_plain_text_reads_hostile_markdown_in_bounded_time(name: str) -> None:
    started = time.perf_counter()
    plain_text(HOSTILE_MARKDOWN[name])
    assert time.perf_counter() - started < TIME_GUARD_SECONDS


def test_plain_text_drops_closed_fences_and_keeps_an_unclosed_one() -> None:
    text = plain_text("Before.\n\n```python\ncode here\n```\n\nAfter.\n\n```\nnever closed")
    assert text == "Before.\nAfter.\nnever closed."


def test_plain_text_skips_table_rules_and_keeps_link_and_image_text() -> None:
    markdown = "| a | b |\n| :--- | ---: |\n| 1 | 2 |\n\nSee [the guide](/g) and ![a chart](c.png)."
    assert plain_text(markdown) == "a b.\n1 2.\nSee the guide and a chart."


def test_a_url_with_one_level_of_parentheses_is_part_of_its_link() -> None:
    assert (
        plain_text("Read [Python](https://en.wikipedia.org/wiki/Python_(language)) now") == "Read Python now."
    )
