"""Keyphrase matching: whole words, case-insensitive, with English plurals and possessives folded.

Two notions, as Yoast uses them: an *exact* match is the keyphrase's words in order; a *mention* is every
content word of the keyphrase (function words aside) inside one sentence, in any order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from ..scoring import words_of
from .words import FUNCTION_WORDS

# Matching compares this many words of a phrase at most, which keeps a hostile keyphrase linear.
MAX_PHRASE_WORDS = 16

_UNSAFE_RE = re.compile(r"[<>\x00-\x1f\x7f]|[.!?](?=\s|$)")


@lru_cache(maxsize=1 << 16)
def stem(word: str) -> str:
    """A light English fold: "Pancakes" and "pancake's" both become "pancake"."""
    folded = word.lower().replace("’", "'")
    if folded.endswith("'s"):
        folded = folded[:-2]
    if len(folded) > 4 and folded.endswith("ies"):
        return folded[:-3] + "y"
    if len(folded) > 4 and folded.endswith(("sses", "shes", "ches", "xes", "zes")):
        return folded[:-2]
    if len(folded) > 3 and folded.endswith("s") and not folded.endswith(("ss", "us", "is")):
        return folded[:-1]
    return folded


def stems(text: str) -> list[str]:
    return [stem(word) for word in words_of(text)]


@dataclass(frozen=True, slots=True)
class Phrase:
    text: str
    words: tuple[str, ...]
    content: tuple[str, ...]
    needed: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, text: str) -> Phrase:
        words = tuple(stems(text))[:MAX_PHRASE_WORDS]
        content = tuple(word for word in words if word not in FUNCTION_WORDS) or words
        return cls(text=text, words=words, content=content, needed=tuple(Counter(content).items()))

    def __bool__(self) -> bool:
        return bool(self.words)

    def exact_count(self, words: Sequence[str]) -> int:
        """Non-overlapping occurrences of the phrase's words in order."""
        size = len(self.words)
        if not size:
            return 0
        count = 0
        index = 0
        first = self.words[0]
        limit = len(words) - size
        while index <= limit:
            if words[index] == first and tuple(words[index : index + size]) == self.words:
                count += 1
                index += size
            else:
                index += 1
        return count

    def starts(self, words: Sequence[str]) -> bool:
        """Whether the words open with the phrase, leading function words aside ("The best ..." counts)."""
        index = 0
        while index < len(words) and words[index] in FUNCTION_WORDS and words[index] != self.words[0]:
            index += 1
        return bool(self.words) and tuple(words[index : index + len(self.words)]) == self.words

    def mentions(self, words: Sequence[str]) -> int:
        """Yoast's count for one sentence: how often every content word occurs in it (0 if one is missing)."""
        found = 0
        for word, times in self.needed:
            count = words.count(word) // times
            if not count:
                return 0
            found = count if not found else min(found, count)
        return found

    def share_in(self, words: Sequence[str]) -> float:
        """The share of the phrase's content words found among the words (Yoast's image-alt rule uses 50%)."""
        if not self.content:
            return 0.0
        present = set(words)
        return sum(1 for word in self.content if word in present) / len(self.content)


@dataclass(frozen=True, slots=True)
class Topic:
    """The keyphrase with its synonyms."""

    keyphrase: Phrase
    synonyms: tuple[Phrase, ...]

    @classmethod
    def of(cls, keyphrase: str, synonyms: Sequence[str]) -> Topic:
        found = (Phrase.of(text) for text in synonyms)
        return cls(Phrase.of(keyphrase), tuple(phrase for phrase in found if phrase))

    def by_synonym(self, words: Sequence[str]) -> bool:
        return any(synonym.mentions(words) for synonym in self.synonyms)

    def reflected(self, words: Sequence[str]) -> bool:
        return bool(self.keyphrase.mentions(words)) or self.by_synonym(words)


def quote(text: str, limit: int = 40) -> str:
    """User text made safe to echo in a message: no markup or sentence break, ``limit`` characters at most."""
    clean = " ".join(_UNSAFE_RE.sub(" ", text).split())
    if len(clean) > limit:
        clean = clean[: limit - 1].rstrip() + "…"
    return f"“{clean}”"
