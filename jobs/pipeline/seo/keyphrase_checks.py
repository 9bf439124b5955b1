"""SEO checks on where and how often the keyphrase is used (thresholds: the table in ``checks``)."""

from __future__ import annotations

import math

from ..scoring import words_of
from .context import Context, block_stems
from .keyphrase import quote, stems
from .verdict import GOOD, OK, PROBLEM, Finding, plural
from .words import FUNCTION_WORDS

DENSITY_MIN = 0.5
DENSITY_MAX = 3.0
DENSITY_WAY_OVER = 4.0
SUBHEADING_SHARE_MIN = 0.3
SUBHEADING_SHARE_MAX = 0.75
KEYPHRASE_WORDS_GOOD = 4
KEYPHRASE_WORDS_OK = 8
SHORT_TEXT_WORDS = 300


def keyphrase_in_introduction(ctx: Context) -> Finding | None:
    if not ctx.keyphrase:
        return None
    kp = quote(ctx.keyphrase_text)
    intro = ctx.doc.intro
    if intro is None:
        return Finding(PROBLEM, f"The article has no opening paragraph; start with one that uses {kp}.")
    sentences = [sentence.stems for sentence in intro.sentences]
    if any(ctx.keyphrase.mentions(words) for words in sentences):
        return Finding(GOOD, f"The first paragraph uses the keyphrase {kp} within one sentence.")
    if any(ctx.topic.by_synonym(words) for words in sentences):
        return Finding(
            OK, f"The first paragraph uses a synonym but not {kp}; use the keyphrase itself there."
        )
    if ctx.keyphrase.mentions(block_stems(intro.sentences)):
        return Finding(
            OK, f"The first paragraph has every word of {kp} but not in one sentence; bring them together."
        )
    return Finding(
        PROBLEM, f"The first paragraph does not use the keyphrase {kp}; put it in the first sentence."
    )


def keyphrase_in_meta_title(ctx: Context) -> Finding | None:
    if not ctx.keyphrase:
        return None
    kp = quote(ctx.keyphrase_text)
    title = ctx.title_stems
    if not title:
        return Finding(2, f"There is no meta title; write one that begins with {kp}.")
    if ctx.keyphrase.starts(title):
        return Finding(GOOD, f"The meta title begins with the keyphrase {kp}.")
    if ctx.keyphrase.exact_count(title):
        return Finding(OK, f"The meta title uses {kp} but not at its start; move it to the beginning.")
    if ctx.keyphrase.mentions(title):
        return Finding(
            OK, f"The meta title has the words of {kp} but not the exact phrase; use it at the start."
        )
    return Finding(2, f"The meta title does not use the keyphrase {kp}; begin the title with it.")


def keyphrase_in_meta_description(ctx: Context) -> Finding | None:
    if not ctx.keyphrase:
        return None
    kp = quote(ctx.keyphrase_text)
    if not ctx.description_stems:
        return Finding(
            PROBLEM, f"There is no meta description; write one of 121 to 156 characters that uses {kp}."
        )
    from_sentences = [stems(sentence) for sentence in _description_sentences(ctx.meta_description)]
    count = sum(ctx.keyphrase.mentions(words) for words in from_sentences)
    if count > 2:
        return Finding(PROBLEM, f"The meta description uses {kp} {count} times; use it once or twice.")
    if count:
        return Finding(GOOD, f"The meta description uses the keyphrase {kp} {plural(count, 'time')}.")
    if any(ctx.topic.by_synonym(words) for words in from_sentences):
        return Finding(GOOD, "The meta description uses a synonym of the keyphrase.")
    return Finding(PROBLEM, f"The meta description does not use the keyphrase {kp}; work it in once.")


def _description_sentences(description: str) -> list[str]:
    return [part for part in description.replace("!", ".").replace("?", ".").split(". ") if part.strip()]


def keyphrase_in_h1(ctx: Context) -> Finding | None:
    if not ctx.keyphrase:
        return None
    kp = quote(ctx.keyphrase_text)
    titles = [block for block in ctx.doc.headings if block.level == 1 and not block.in_sources]
    if not titles:
        return Finding(PROBLEM, f"The article has no H1 title; open it with one that uses {kp}.")
    words = block_stems(titles[0].sentences)
    if ctx.keyphrase.mentions(words):
        return Finding(GOOD, f"The H1 title uses the keyphrase {kp}.")
    if ctx.topic.by_synonym(words):
        return Finding(OK, f"The H1 title uses a synonym but not {kp}; use the keyphrase itself.")
    return Finding(PROBLEM, f"The H1 title does not use the keyphrase {kp}; work it into the title.")


def keyphrase_in_subheadings(ctx: Context) -> Finding | None:
    if not ctx.keyphrase:
        return None
    kp = quote(ctx.keyphrase_text)
    subheadings = ctx.doc.subheadings
    total = len(subheadings)
    if not total:
        if ctx.doc.word_count <= SHORT_TEXT_WORDS:
            return Finding(GOOD, "The text is short enough to need no subheadings.")
        return Finding(
            2, f"The text has no H2 or H3 subheadings; add some and use {kp} in about a third of them."
        )
    reflecting = sum(1 for block in subheadings if ctx.topic.reflected(block_stems(block.sentences)))
    share = reflecting / total
    low = math.ceil(SUBHEADING_SHARE_MIN * total)
    high = math.floor(SUBHEADING_SHARE_MAX * total)
    if (total == 1 and reflecting == 1) or SUBHEADING_SHARE_MIN <= share <= SUBHEADING_SHARE_MAX:
        return Finding(GOOD, f"The keyphrase or a synonym appears in {reflecting} of {total} subheadings.")
    if share < SUBHEADING_SHARE_MIN:
        more = f"{low - reflecting}" if high <= low else f"{low - reflecting} to {high - reflecting}"
        return Finding(
            PROBLEM,
            f"The keyphrase appears in {reflecting} of {total} subheadings; "
            f"use it or a synonym in {more} more.",
        )
    return Finding(
        PROBLEM,
        f"The keyphrase appears in {reflecting} of {total} subheadings, which reads as over-optimised; "
        f"reword {reflecting - high} of them.",
    )


def recommended_counts(words: int) -> tuple[int, int]:
    """Yoast's recommended keyphrase count for a text: at least 2, else 0.5% and 3% of its words."""
    return max(2, math.ceil(DENSITY_MIN * words / 100)), max(2, math.floor(DENSITY_MAX * words / 100))


def keyphrase_density(ctx: Context) -> Finding | None:
    words = ctx.doc.word_count
    if not ctx.keyphrase or not words:
        return None
    kp = quote(ctx.keyphrase_text)
    count = ctx.keyphrase_matches
    low, high = recommended_counts(words)
    density = 100 * count / words
    found = f"The keyphrase {kp} appears {plural(count, 'time')} in {words:,} words ({density:.1f}%)"
    if not count:
        return Finding(4, f"{found}; use it at least {low} times.")
    if words < 100:
        # Yoast's rule for short texts counts occurrences: 1 is right below 51 words, 1-2 below 100.
        most = 1 if words < 51 else 2
        if count <= most:
            return Finding(GOOD, f"{found}, which suits a text this short.")
        return Finding(1 if count == most + 1 else 0, f"{found}; cut it to {plural(most, 'time')}.")
    if DENSITY_MIN <= density <= DENSITY_MAX or (count == 2 and low <= 2):
        return Finding(GOOD, f"{found}, within the 0.5-3% range.")
    if density < DENSITY_MIN or count == 1:
        return Finding(4, f"{found}; use it {low} to {high} times.")
    score = 1 if density <= DENSITY_WAY_OVER else 0
    return Finding(score, f"{found}, which reads as keyword stuffing; cut it to at most {high} times.")


def keyphrase_length(ctx: Context) -> Finding | None:
    words = words_of(ctx.keyphrase_text)
    if not words:
        return Finding(0, "No keyphrase was set; set one of 1 to 4 words to get a meaningful SEO score.")
    content = [word for word in words if word not in FUNCTION_WORDS] or words
    count = len(content)
    if count <= KEYPHRASE_WORDS_GOOD:
        return Finding(
            GOOD, f"The keyphrase has {plural(count, 'content word')}, within the 1 to 4 recommended."
        )
    if count <= KEYPHRASE_WORDS_OK:
        return Finding(OK, f"The keyphrase has {count} content words; shorten it to 4 or fewer.")
    return Finding(
        PROBLEM, f"The keyphrase has {count} content words, far above 4; shorten it to 4 or fewer."
    )
