"""Deterministic rewrites inside sentences: long ones split, repeated openings varied, templates and
surplus keyphrases removed. A cut never falls inside brackets, parentheses, code or emphasis.
"""

from __future__ import annotations

import re
from bisect import bisect_left

from ..scoring import WORD_RE, words_of
from .readability_checks import (
    LONG_SENTENCE_WORDS,
    repeat_limit,
    repeated_ngram,
    same_start_runs,
    sentence_start,
)
from .report import context_for
from .rewrite import capitalise, list_marker, phrase_pattern, raw_text, replace_blocks, rewrite_sentences
from .text import parse, split_sentences
from .words import FUNCTION_WORDS, PRONOUN, SENTENCE_START_EXCEPTIONS, table

# A cut must leave a sentence on each side, so the right part has to open with a likely subject: after a
# conjunction a determiner will do ("..., and the water boils"); after a bare comma or "and" only a pronoun,
# as "pay, a little" and "personality and your income" are lists.
_SUBJECT = (
    r"(?=(?:i|you|he|she|it|we|they|this|that|these|those|there|the|a|an|my|your|his|her|its|our|their|"
    r"many|most|some|each|every|one|people|everyone)\b)"
)
_PRONOUN = r"(?=(?:i|you|he|she|it|we|they|there)\b)"
# Cut points for a long sentence, best first; "and" is dropped at the cut, "but", "so" and "yet" open the
# new sentence.
_CUTS = tuple(
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r";\s+",
        rf",\s+(?:and|but|so|yet)\s+{_SUBJECT}",
        rf"\s+but\s+{_SUBJECT}",
        rf",\s+{_PRONOUN}",
        rf"\s+and\s+{_PRONOUN}",
    )
)
_KEEP_CONJUNCTION = ("but", "so", "yet")
# A left part that opens with one of these is a dependent clause, not a sentence.
_SUBORDINATORS = table(
    "if when whenever because although though while since as after before once unless until whether"
)
_TRANSITIONS = ("Also", "Next", "Then", "Besides", "In turn")
_WH_WORDS = frozenset({"how", "why", "what", "when", "where", "which", "who"})
_MIN_PART_WORDS = 5


def _protected(text: str) -> list[bool]:
    """For each character, whether it sits inside brackets, parentheses, inline code or emphasis."""
    inside = []
    depth = 0
    code = False
    emphasis = False
    for index, char in enumerate(text):
        if char == "`":
            code = not code
        elif char == "*" and not code:
            emphasis = not emphasis if text[index + 1 : index + 2] != "*" else emphasis
        elif char in "[(" and not code:
            depth += 1
        elif char in "])" and not code and depth:
            depth -= 1
        inside.append(depth > 0 or code or emphasis)
    return inside


def split_long_sentence(sentence: str, limit: int = LONG_SENTENCE_WORDS) -> list[str]:
    """The sentence cut at its best cut point near the middle, repeatedly, while a part exceeds ``limit``."""
    words = list(WORD_RE.finditer(sentence))
    if len(words) <= limit or words[0].group(0).lower() in _SUBORDINATORS:
        return [sentence]
    starts = [word.start() for word in words]
    inside = _protected(sentence)
    middle = len(sentence) / 2
    for pattern in _CUTS:
        best = None
        for match in pattern.finditer(sentence):
            left = bisect_left(starts, match.start())
            right = len(starts) - bisect_left(starts, match.end())
            if inside[match.start()] or min(left, right) < _MIN_PART_WORDS:
                continue
            if best is None or abs(match.start() - middle) < abs(best.start() - middle):
                best = match
        if best is None:
            continue
        head = sentence[: best.start()].rstrip(" ,;:") + "."
        tail = sentence[best.end() :]
        conjunction = best.group(0).strip(" ,").lower()
        if conjunction in _KEEP_CONJUNCTION:
            tail = f"{conjunction} {tail}"
        return [*split_long_sentence(head, limit), *split_long_sentence(capitalise(tail), limit)]
    return [sentence]


def split_long_sentences(content: str) -> str:
    return rewrite_sentences(
        content, lambda sentences: [part for s in sentences for part in split_long_sentence(s)]
    )


def vary_openings(content: str) -> str:
    """In each run of three or more sentences with one opening, every second sentence gets a transition."""

    def change(sentences: list[str]) -> list[str]:
        starts = [sentence_start(words_of(sentence.lower())) for sentence in sentences]
        result = list(sentences)
        for first, length in same_start_runs(starts):
            for turn, index in enumerate(range(first + 1, first + length, 2)):
                sentence = result[index]
                head = sentence.split(" ", 1)[0]
                if head.lower() in FUNCTION_WORDS | SENTENCE_START_EXCEPTIONS and head != "I":
                    sentence = sentence[:1].lower() + sentence[1:]
                result[index] = f"{_TRANSITIONS[turn % len(_TRANSITIONS)]}, {sentence}"
        return result

    return rewrite_sentences(content, change)


def _without_template(sentence: str, match: re.Match[str]) -> str | None:
    """The sentence after a leading template clause ("When it comes to X, the first weeks ..."), if any."""
    if words_of(sentence[: match.start()]):
        return None
    comma = sentence.find(",", match.end())
    rest = sentence[comma + 1 :].strip() if comma != -1 else ""
    return capitalise(rest) if len(words_of(rest)) >= 4 else None


def _heading_tail(text: str, match: re.Match[str]) -> str | None:
    """A template heading's own part ("Why X matters for crate training" gives "Crate training")."""
    words = text[match.end() :].split()
    while words and words[0].lower().strip(",:;") in FUNCTION_WORDS:
        words.pop(0)
    return capitalise(" ".join(words)) if words_of(" ".join(words)) else None


def remove_repeated_phrase(content: str, keyphrase: str) -> str:
    """The most repeated four-word phrase cut back to a natural count: a leading template clause is dropped
    from its sentence, a template heading keeps its own part, and other sentences that repeat it are removed
    while their paragraph keeps another sentence."""
    for _ in range(8):
        ctx = context_for(content=content, meta_title="", meta_description="", keyphrase=keyphrase)
        phrase, count = repeated_ngram(ctx)
        keep = max(2, repeat_limit(ctx.doc.word_count) - 2)
        pattern = phrase_pattern(phrase)
        if count <= keep or pattern is None:
            return content
        doc = ctx.doc
        seen = 0
        new: dict[int, list[str]] = {}
        for index, block in enumerate(doc.blocks):
            if block.in_sources:
                continue
            if block.kind == "heading":
                match = pattern.search(block.text)
                tail = (
                    _heading_tail(block.text, match) if match and seen >= keep and block.level > 1 else None
                )
                if tail:
                    new[index] = ["#" * block.level + " " + tail]
                else:
                    seen += len(pattern.findall(block.text))
                continue
            marker, raw = list_marker(raw_text(doc, block))
            sentences = split_sentences(raw)
            kept: list[str] = []
            for position, sentence in enumerate(sentences):
                match = pattern.search(sentence)
                if match and seen >= keep:
                    shorter = _without_template(sentence, match)
                    if shorter is not None:
                        kept.append(shorter)
                        continue
                    if kept or position < len(sentences) - 1:
                        continue
                seen += len(pattern.findall(sentence))
                kept.append(sentence)
            if kept != sentences:
                new[index] = [marker + " ".join(kept)]
        if not new:
            return content
        content = replace_blocks(content, doc, new)
    return content


def thin_keyphrase(content: str, keyphrase: str, keep: int) -> str:
    """Exact uses of the keyphrase in the prose past the first ``keep`` become a shorter reference: its last
    word ("trail running shoes" becomes "shoes"), or "this" for a question-like keyphrase ("how to ...").
    Headings stay as they are."""
    pattern = phrase_pattern(keyphrase)
    words = words_of(keyphrase)
    if pattern is None:
        return content
    doc = parse(content)
    seen = 0
    new: dict[int, list[str]] = {}
    for index, block in enumerate(doc.blocks):
        if block.kind == "heading" or block.in_sources:
            continue
        raw = raw_text(doc, block)

        def swap(match: re.Match[str], raw: str = raw) -> str:
            nonlocal seen
            seen += 1
            if seen <= keep:
                return match.group(0)
            if words[0].lower() in _WH_WORDS or len(words) == 1:
                short = PRONOUN
            else:
                short = match.group(0).split()[-1].lower()
            before = raw[: match.start()].rstrip(' *_["“')
            return capitalise(short) if not before or before[-1] in ".!?" else short

        rewritten = pattern.sub(swap, raw)
        if rewritten != raw:
            new[index] = [rewritten]
    return replace_blocks(content, doc, new) if new else content
