"""SEO checks on the meta fields, length, links, images and headings (thresholds: the table in ``checks``)."""

from __future__ import annotations

from collections import Counter

from ..scoring import words_of
from .context import Context
from .keyphrase import quote, stem, stems
from .verdict import GOOD, OK, PROBLEM, Finding, plural
from .words import FUNCTION_WORDS

TITLE_MAX = 60
TITLE_MIN = 30
DESCRIPTION_MIN = 121
DESCRIPTION_MAX = 156
MIN_WORDS = 300
TARGET_GOOD = 0.15
TARGET_OK = 0.30
TARGET_FAR = 0.50
SECTION_GOOD = 300
SECTION_MAX = 350
CITED_SOURCES_WANTED = 3


def meta_title_length(ctx: Context) -> Finding | None:
    length = len(" ".join(ctx.meta_title.split()))
    if not length:
        return Finding(1, f"There is no meta title; write one of {TITLE_MIN} to {TITLE_MAX} characters.")
    if length > TITLE_MAX:
        return Finding(
            PROBLEM,
            f"The meta title has {length} characters, so search results will cut it; "
            f"shorten it to {TITLE_MAX} or fewer.",
        )
    if length < TITLE_MIN:
        return Finding(
            OK, f"The meta title has {plural(length, 'character')}; use up to {TITLE_MAX} to say more."
        )
    return Finding(GOOD, f"The meta title has {length} characters, which fits in search results.")


def meta_description_length(ctx: Context) -> Finding | None:
    length = len(" ".join(ctx.meta_description.split()))
    if not length:
        return Finding(
            1,
            f"There is no meta description; write one of {DESCRIPTION_MIN} to {DESCRIPTION_MAX} characters.",
        )
    if length < DESCRIPTION_MIN:
        return Finding(
            OK,
            f"The meta description has {plural(length, 'character')}; "
            f"use {DESCRIPTION_MIN} to {DESCRIPTION_MAX}.",
        )
    if length > DESCRIPTION_MAX:
        return Finding(
            OK,
            f"The meta description has {length} characters, so search results will cut it; "
            f"shorten it to {DESCRIPTION_MAX}.",
        )
    return Finding(GOOD, f"The meta description has {length} characters, which fits in search results.")


def repeated_description_phrase(description: str, size: int = 3) -> tuple[str, int]:
    """The most repeated run of ``size`` words with a content word in it, as first written, and its count."""
    words = [word.lower() for word in words_of(description)]
    folded = [stem(word) for word in words]
    runs: Counter[tuple[str, ...]] = Counter()
    surface: dict[tuple[str, ...], list[str]] = {}
    for index in range(len(folded) - size + 1):
        run = tuple(folded[index : index + size])
        if all(word in FUNCTION_WORDS for word in run):
            continue
        runs[run] += 1
        surface.setdefault(run, words[index : index + size])
    if not runs:
        return "", 0
    run, count = runs.most_common(1)[0]
    return " ".join(surface[run]), count


def meta_description_duplicates(ctx: Context) -> Finding | None:
    if not ctx.description_stems:
        return None
    phrase, count = repeated_description_phrase(ctx.meta_description)
    if count >= 2:
        return Finding(
            PROBLEM,
            f"The meta description repeats the phrase {quote(phrase)} {count} times; say each thing once.",
        )
    exact = ctx.keyphrase.exact_count(ctx.description_stems) if ctx.keyphrase else 0
    if exact > 2:
        return Finding(
            PROBLEM, f"The meta description repeats the keyphrase {exact} times; use it once or twice."
        )
    return Finding(GOOD, "The meta description repeats no phrase of three or more words.")


def text_length(ctx: Context) -> Finding | None:
    words = ctx.doc.word_count
    target = ctx.target_words
    if target and target > 0:
        gap = (words - target) / target
        where = f"The text has {words:,} words against a target of {target:,}"
        if abs(gap) <= TARGET_GOOD:
            return Finding(GOOD, f"{where}, within {TARGET_GOOD:.0%} of it.")
        change = f"add about {target - words:,}" if gap < 0 else f"cut about {words - target:,}"
        side = "short" if gap < 0 else "over"
        score = OK if abs(gap) <= TARGET_OK else PROBLEM if abs(gap) <= TARGET_FAR else 1
        return Finding(score, f"{where} ({abs(gap):.0%} {side}); {change} words.")
    if words >= MIN_WORDS:
        return Finding(GOOD, f"The text has {words:,} words, above the {MIN_WORDS} recommended minimum.")
    score = OK if words >= 250 else PROBLEM if words >= 200 else 0
    return Finding(
        score, f"The text has {plural(words, 'word')}; add at least {MIN_WORDS - words} to reach {MIN_WORDS}."
    )


def outbound_links(ctx: Context) -> Finding | None:
    """Counts distinct [n] citations (1 to ``sources``) and distinct http(s) links in the article's prose."""
    if ctx.sources <= 0:
        return None
    cited = {number for number in ctx.doc.citations if 1 <= number <= ctx.sources}
    linked = {link.url for link in ctx.doc.links if link.external and not link.in_sources}
    listed = {link.url for link in ctx.doc.links if link.external and link.in_sources}
    count = len(cited) + len(linked)
    wanted = min(ctx.sources, CITED_SOURCES_WANTED)
    of = plural(ctx.sources, "source")
    if count >= wanted:
        return Finding(GOOD, f"The text cites {count} of its {of} inline with [n] markers or links.")
    if count or listed:
        return Finding(
            OK,
            f"The text cites {count} of its {of} inline; "
            f"cite {wanted - count} more with [n] markers or links.",
        )
    return Finding(
        PROBLEM, f"The text cites none of its {of}; add [n] markers or links where their facts are used."
    )


def internal_links(ctx: Context) -> Finding | None:
    if ctx.sources <= 0:
        return None
    count = sum(1 for link in ctx.doc.links if link.internal and not link.in_sources)
    if count:
        return Finding(GOOD, f"The text has {plural(count, 'link')} to other pages of this site.")
    return Finding(
        PROBLEM, "The text links to no other page of this site; add a relative link to a related article."
    )


def image_alt(ctx: Context) -> Finding | None:
    images = ctx.doc.images
    if not images:
        return None
    total = len(images)
    missing = sum(1 for image in images if not image.alt)
    if missing:
        if total == 1:
            return Finding(PROBLEM, "The image has no alt text; describe it in a few words.")
        return Finding(
            PROBLEM, f"{missing} of {total} images have no alt text; describe each in a few words."
        )
    images_have = "The image has" if total == 1 else f"All {total} images have"
    if not ctx.keyphrase:
        return Finding(GOOD, f"{images_have} alt text.")
    # Yoast: half of the keyphrase's content words in an alt text is a match.
    matching = sum(
        1
        for image in images
        if ctx.keyphrase.share_in(stems(image.alt)) >= 0.5 or ctx.topic.by_synonym(stems(image.alt))
    )
    kp = quote(ctx.keyphrase_text)
    if (total < 5 and matching) or (total >= 5 and 0.3 <= matching / total <= 0.75):
        if total == 1:
            return Finding(GOOD, "The image has alt text that reflects the keyphrase.")
        return Finding(GOOD, f"All {total} images have alt text, and {matching} reflect the keyphrase.")
    if matching > 0.75 * total:
        return Finding(
            OK, f"The alt text of {matching} of {total} images uses the keyphrase; keep it where it fits."
        )
    return Finding(OK, f"No image alt text reflects the keyphrase {kp}; add it to one relevant image.")


def single_h1(ctx: Context) -> Finding | None:
    count = sum(1 for block in ctx.doc.headings if block.level == 1)
    if count >= 2:
        return Finding(
            1, f"The article has {count} H1 headings; keep the title as the only H1 and make the others H2."
        )
    return Finding(8, "The article has no more than one H1 heading.")


def section_lengths(ctx: Context) -> tuple[list[int], int]:
    """Words in each run of prose between two headings, and the number of subheadings (H2 to H6)."""
    runs = [0]
    subheadings = 0
    for block in ctx.doc.blocks:
        if block.in_sources:
            continue
        if block.kind == "heading":
            subheadings += block.level >= 2
            if runs[-1]:
                runs.append(0)
            continue
        runs[-1] += block.word_count
    return [run for run in runs if run], subheadings


def subheading_distribution(ctx: Context) -> Finding | None:
    runs, subheadings = section_lengths(ctx)
    total = sum(runs)
    if not subheadings:
        if total <= SECTION_GOOD:
            return Finding(GOOD, "The text is short enough to need no subheadings.")
        return Finding(
            2,
            f"The text runs {total:,} words without a subheading; "
            f"add one at least every {SECTION_GOOD} words.",
        )
    longest = max(runs, default=0)
    if longest <= SECTION_GOOD:
        return Finding(GOOD, f"No section runs longer than {SECTION_GOOD} words without a subheading.")
    long_runs = sum(1 for run in runs if run > SECTION_GOOD)
    score = OK if longest <= SECTION_MAX else PROBLEM
    return Finding(
        score,
        f"{plural(long_runs, 'section')} run past {SECTION_GOOD} words without a subheading (the longest has "
        f"{longest:,}); add a subheading at least every {SECTION_GOOD} words.",
    )
