"""Deterministic rewrites of the meta title and the meta description."""

from __future__ import annotations

import re

from ..scoring import clip
from .keyphrase import Phrase, stems
from .rewrite import capitalise, phrase_pattern
from .structure_checks import DESCRIPTION_MAX, DESCRIPTION_MIN, TITLE_MAX
from .text import parse
from .words import FUNCTION_WORDS

_SEPARATORS = " ,;:-–—|"
_CLAUSE_RE = re.compile(r"(?<=[.!?;:,])\s+")


def tidy_clip(text: str, limit: int) -> str:
    """The text cut at a word boundary within ``limit`` characters, without a dangling function word."""
    words = clip(text, limit).split()
    while len(words) > 1 and words[-1].lower().strip(_SEPARATORS) in FUNCTION_WORDS:
        words.pop()
    return " ".join(words).rstrip(_SEPARATORS)


def title_with_keyphrase_first(title: str, keyphrase: str) -> str:
    """The title as "Keyphrase: rest of the title" within 60 characters, unchanged for a longer keyphrase."""
    keyphrase = " ".join(keyphrase.split())
    pattern = phrase_pattern(keyphrase)
    if pattern is None or len(keyphrase) > TITLE_MAX:
        return title
    around = re.compile(rf"\s*[:|–—-]?\s*(?:{pattern.pattern})\s*[:|–—-]?\s*", re.IGNORECASE)
    words = around.sub(" ", title, count=1).split()
    while words and words[-1].lower().strip(_SEPARATORS) in FUNCTION_WORDS:
        words.pop()
    rest = " ".join(words).strip(_SEPARATORS)
    if rest.split(" ", 1)[0].lower() in FUNCTION_WORDS:
        rest = rest[:1].lower() + rest[1:]
    return tidy_clip(f"{capitalise(keyphrase)}: {rest}" if rest else capitalise(keyphrase), TITLE_MAX)


def title_within_limit(title: str, keyphrase: str, content: str) -> str:
    """A long title cut to 60 characters (keyphrase first if the cut would drop it); from the H1 if empty."""
    title = " ".join(title.split())
    if not title:
        h1 = next((block.text for block in parse(content).headings if block.level == 1), "")
        return tidy_clip(h1 or capitalise(keyphrase), TITLE_MAX)
    if len(title) <= TITLE_MAX:
        return title
    pattern = phrase_pattern(keyphrase)
    found = pattern.search(title) if pattern else None
    if found and found.end() > TITLE_MAX:
        return title_with_keyphrase_first(title, keyphrase)
    return tidy_clip(title, TITLE_MAX)


def _grams(text: str) -> set[tuple[str, ...]]:
    words = stems(text)
    return {
        tuple(words[index : index + 3])
        for index in range(len(words) - 2)
        if any(word not in FUNCTION_WORDS for word in words[index : index + 3])
    }


def fit_description(description: str, keyphrase: str, content: str) -> str:
    """The description's clauses in order, leaving out any that repeats a three-word phrase or would use the
    keyphrase a third time, then whole opening sentences of the article while it is under 121 characters;
    never over 156."""
    phrase = Phrase.of(keyphrase)
    kept: list[str] = []
    seen: set[tuple[str, ...]] = set()
    uses = 0

    def take(piece: str) -> None:
        nonlocal uses
        grams = _grams(piece)
        mentions = phrase.mentions(stems(piece)) if phrase else 0
        if grams & seen or uses + mentions > 2 or len(" ".join([*kept, piece])) > DESCRIPTION_MAX:
            return
        kept.append(piece)
        seen.update(grams)
        uses += mentions

    for clause in _CLAUSE_RE.split(" ".join(description.split())):
        take(clause)
    if kept and kept[-1][-1] in ",;:":
        kept[-1] = kept[-1][:-1] + "."
    for block in parse(content).prose[:6]:
        for sentence in block.sentences:
            if len(" ".join(kept)) >= DESCRIPTION_MIN:
                break
            take(sentence.text)
    if not kept:
        return tidy_clip(description, DESCRIPTION_MAX - 1) + "…" if description.strip() else ""
    text = " ".join(kept)
    return text if text[-1] in ".!?" else text + "."


def description_with_keyphrase(description: str, keyphrase: str, content: str) -> str:
    """The description opened with "Keyphrase:" when it lacks the keyphrase, then fitted as above."""
    keyphrase = " ".join(keyphrase.split())
    if not keyphrase:
        return description
    base = " ".join(description.split())
    if not Phrase.of(keyphrase).mentions(stems(base)):
        opening = capitalise(keyphrase)
        base = f"{opening}: {base[:1].lower() + base[1:]}" if base else f"{opening}."
    return fit_description(base, keyphrase, content)
