"""Readability checks (thresholds: the table in ``checks``)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from .. import scoring
from ..scoring import words_of
from .context import Context
from .keyphrase import quote
from .verdict import GOOD, OK, PROBLEM, Finding, percent, plural
from .words import (
    FUNCTION_WORDS,
    IRREGULAR_PARTICIPLES,
    NOT_PARTICIPLES,
    PASSIVE_AUXILIARIES,
    PASSIVE_GAP_WORDS,
    SENTENCE_START_EXCEPTIONS,
    TRANSITION_PHRASES,
    TRANSITION_WORDS,
)

LONG_SENTENCE_WORDS = 20
LONG_SENTENCES_GOOD = 0.25
LONG_SENTENCES_OK = 0.30
PARAGRAPH_GOOD = 150
PARAGRAPH_OK = 200
PASSIVE_GOOD = 0.10
PASSIVE_OK = 0.15
TRANSITIONS_GOOD = 0.30
TRANSITIONS_OK = 0.20
TRANSITIONS_MIN_WORDS = 200
SAME_START_RUN = 3
FLESCH_GOOD = 60.0
FLESCH_OK = 50.0
FLESCH_SAMPLE_WORDS = 10_000
_LONG_TOKEN_RE = re.compile(r"\S{41,}")
NGRAM = 4
# "Get started" and "get rid of" are idioms, not passives.
_GET_IDIOMS = frozenset({"started", "rid", "lost", "used", "dressed", "married", "ready"})
_GET_FORMS = frozenset({"get", "gets", "got", "gotten", "getting"})
_FLESCH_BANDS = (
    (90.0, "very easy"),
    (80.0, "easy"),
    (70.0, "fairly easy"),
    (60.0, "plain"),
    (50.0, "fairly difficult"),
    (30.0, "difficult"),
)


def sentence_length(ctx: Context) -> Finding | None:
    sentences = ctx.doc.sentences
    if not sentences:
        return None
    long = sum(1 for sentence in sentences if len(sentence.words) > LONG_SENTENCE_WORDS)
    share = long / len(sentences)
    found = (
        f"{long} of {len(sentences)} sentences ({percent(share)}) have more than {LONG_SENTENCE_WORDS} words"
    )
    if share <= LONG_SENTENCES_GOOD:
        return Finding(GOOD, f"{found}, within the 25% limit.")
    return Finding(
        OK if share <= LONG_SENTENCES_OK else PROBLEM,
        f"{found}; split some so that at most 25% are that long.",
    )


def paragraph_length(ctx: Context) -> Finding | None:
    sizes = [block.word_count for block in ctx.doc.paragraphs]
    if not sizes:
        return None
    longest = max(sizes)
    if longest <= PARAGRAPH_GOOD:
        return Finding(
            GOOD, f"No paragraph has more than {PARAGRAPH_GOOD} words (the longest has {longest})."
        )
    over = sum(1 for size in sizes if size > PARAGRAPH_GOOD)
    score = OK if longest <= PARAGRAPH_OK else PROBLEM
    return Finding(
        score,
        f"{over} of {len(sizes)} paragraphs have more than {PARAGRAPH_GOOD} words "
        f"(the longest has {longest}); split them at a change of idea.",
    )


def is_passive(words: Sequence[str]) -> bool:
    """A form of "be" or "get", at most two adverbs, then a past participle ("is often ground")."""
    for index, word in enumerate(words):
        if word not in PASSIVE_AUXILIARIES:
            continue
        after = index + 1
        while after < len(words) and after - index <= 2 and words[after] in PASSIVE_GAP_WORDS:
            after += 1
        if after >= len(words):
            continue
        candidate = words[after]
        if word in _GET_FORMS and candidate in _GET_IDIOMS:
            continue
        if candidate in IRREGULAR_PARTICIPLES or (
            len(candidate) > 3 and candidate.endswith("ed") and candidate not in NOT_PARTICIPLES
        ):
            return True
    return False


def passive_voice(ctx: Context) -> Finding | None:
    sentences = ctx.doc.sentences
    if not sentences:
        return None
    passive = sum(1 for sentence in sentences if is_passive(sentence.words))
    share = passive / len(sentences)
    found = f"{passive} of {len(sentences)} sentences ({percent(share)}) use the passive voice"
    if share <= PASSIVE_GOOD:
        return Finding(GOOD, f"{found}, within the 10% limit.")
    return Finding(
        OK if share <= PASSIVE_OK else PROBLEM, f"{found}; say who does what in some so that at most 10% do."
    )


_PHRASES_BY_FIRST: dict[str, list[str]] = {}
for _phrase in TRANSITION_PHRASES:
    _PHRASES_BY_FIRST.setdefault(_phrase[0], []).append(f" {' '.join(_phrase)} ")


def has_transition(words: Sequence[str]) -> bool:
    if not TRANSITION_WORDS.isdisjoint(words):
        return True
    candidates = [phrase for word in set(words) for phrase in _PHRASES_BY_FIRST.get(word, ())]
    if not candidates:
        return False
    joined = f" {' '.join(words)} "
    return any(phrase in joined for phrase in candidates)


def transition_words(ctx: Context) -> Finding | None:
    sentences = ctx.doc.sentences
    if not sentences:
        return None
    linked = sum(1 for sentence in sentences if has_transition(sentence.words))
    share = linked / len(sentences)
    if ctx.doc.word_count < TRANSITIONS_MIN_WORDS:
        return Finding(GOOD, "The text is short enough to need few transition words.")
    found = f"{linked} of {len(sentences)} sentences ({percent(share)}) contain a transition word"
    if share >= TRANSITIONS_GOOD:
        return Finding(GOOD, f"{found}, above the 30% target.")
    return Finding(
        OK if share >= TRANSITIONS_OK else PROBLEM,
        f"{found}; link more with words such as “however”, “for example” or “as a result” to reach 30%.",
    )


def sentence_start(words: Sequence[str]) -> str:
    """The word a sentence begins with, or its first two words after an article, determiner or number."""
    if len(words) > 1 and words[0] in SENTENCE_START_EXCEPTIONS:
        return f"{words[0]} {words[1]}"
    return words[0] if words else ""


def same_start_runs(starts: Sequence[str]) -> list[tuple[int, int]]:
    """(first index, length) of each run of at least ``SAME_START_RUN`` equal, non-empty starts."""
    runs = []
    index = 0
    while index < len(starts):
        end = index + 1
        while end < len(starts) and starts[end] and starts[end] == starts[index]:
            end += 1
        if starts[index] and end - index >= SAME_START_RUN:
            runs.append((index, end - index))
        index = end
    return runs


def consecutive_sentences(ctx: Context) -> Finding | None:
    if not ctx.doc.sentences:
        return None
    found: list[tuple[int, str]] = []
    for block in ctx.doc.prose:
        starts = [sentence_start(sentence.words) for sentence in block.sentences]
        found.extend((length, starts[first]) for first, length in same_start_runs(starts))
    if not found:
        return Finding(GOOD, f"No {SAME_START_RUN} sentences in a row begin with the same word.")
    length, word = max(found)
    runs = "run" if len(found) == 1 else "runs"
    return Finding(
        PROBLEM,
        f"The text has {len(found)} {runs} of {SAME_START_RUN} or more sentences with the same opening "
        f"(the longest, {length} beginning with {quote(word, 24)}); start some of them differently.",
    )


def flesch_score(ctx: Context) -> float | None:
    """Flesch reading ease of the prose, clamped to 0-100.

    The score is an average, so the first ``FLESCH_SAMPLE_WORDS`` words estimate it, and tokens of more than
    40 characters (no English word is that long) are left out: pyphen's syllable count slows to about a
    second on one 100,000-character token.
    """
    kept = []
    words = 0
    for sentence in ctx.doc.sentences:
        kept.append(_LONG_TOKEN_RE.sub(" ", sentence.text))
        words += len(sentence.words)
        if words >= FLESCH_SAMPLE_WORDS:
            break
    text = "\n".join(kept)
    if not words_of(text):
        return None
    return round(min(100.0, max(0.0, scoring.flesch_reading_ease(text))), 1)


def flesch_reading_ease(ctx: Context) -> Finding | None:
    score = flesch_score(ctx)
    if score is None:
        return None
    band = next((label for floor, label in _FLESCH_BANDS if score >= floor), "very difficult")
    found = f"The text scores {score} on the Flesch reading ease test, which is {band} to read"
    if score >= FLESCH_GOOD:
        return Finding(GOOD, f"{found}.")
    return Finding(
        OK if score >= FLESCH_OK else PROBLEM,
        f"{found}; use shorter sentences and simpler words to reach 60.",
    )


def repeated_ngram(ctx: Context) -> tuple[str, int]:
    """The most frequent four-word phrase of the prose and headings, as first written, and its count.

    A phrase counts when it has a content word that is not one of the keyphrase's or a synonym's: "the
    history of the" only wraps the topic in function words, "when it comes to" is a template.
    """
    topic = {word for phrase in (ctx.keyphrase, *ctx.topic.synonyms) for word in phrase.content}
    counts: Counter[tuple[str, ...]] = Counter()
    surface: dict[tuple[str, ...], tuple[str, ...]] = {}
    for block in ctx.doc.blocks:
        if block.in_sources:
            continue
        for sentence in block.sentences:
            folded = sentence.stems
            for index in range(len(folded) - NGRAM + 1):
                gram = folded[index : index + NGRAM]
                if all(word in FUNCTION_WORDS or word in topic for word in gram):
                    continue
                counts[gram] += 1
                surface.setdefault(gram, sentence.words[index : index + NGRAM])
    if not counts:
        return "", 0
    gram, count = counts.most_common(1)[0]
    return " ".join(surface[gram]), count


def repeat_limit(words: int) -> int:
    """Occurrences of one four-word phrase that make a problem: 3, or one per 250 words in longer texts."""
    return max(3, round(words / 250))


def repeated_phrases(ctx: Context) -> Finding | None:
    if not ctx.doc.sentences:
        return None
    phrase, count = repeated_ngram(ctx)
    limit = repeat_limit(ctx.doc.word_count)
    if count >= limit:
        return Finding(
            PROBLEM, f"The phrase {quote(phrase)} occurs {count} times; reword all but one or two of them."
        )
    if count >= 3 and count == limit - 1:
        return Finding(OK, f"The phrase {quote(phrase)} occurs {count} times; reword one or two of them.")
    if count < 2:
        return Finding(GOOD, "No phrase of four words occurs more than once.")
    return Finding(GOOD, f"No phrase of four words occurs more than {plural(count, 'time')}.")
