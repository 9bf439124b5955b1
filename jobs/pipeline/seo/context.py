"""What every check reads: the parsed article, the keyphrase and the request, with shared derived figures."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

from .keyphrase import Phrase, Topic, stems
from .text import Document, Sentence
from .verdict import Finding, Group

CheckFunction = Callable[["Context"], Finding | None]


@dataclass(frozen=True)
class Check:
    id: str
    group: Group
    run: CheckFunction
    label: str


@dataclass(frozen=True)
class Context:
    doc: Document
    topic: Topic
    keyphrase_text: str
    meta_title: str
    meta_description: str
    target_words: int | None
    sources: int

    @property
    def keyphrase(self) -> Phrase:
        return self.topic.keyphrase

    @cached_property
    def sentence_stems(self) -> list[tuple[str, ...]]:
        """Stemmed words of each prose sentence, in order."""
        return [sentence.stems for sentence in self.doc.sentences]

    @cached_property
    def title_stems(self) -> list[str]:
        return stems(self.meta_title)

    @cached_property
    def description_stems(self) -> list[str]:
        return stems(self.meta_description)

    @cached_property
    def keyphrase_matches(self) -> int:
        """Yoast's keyphrase count: per sentence, how often all its content words occur there."""
        return sum(self.keyphrase.mentions(words) for words in self.sentence_stems)


def block_stems(sentences: tuple[Sentence, ...]) -> list[str]:
    return [word for sentence in sentences for word in sentence.stems]
