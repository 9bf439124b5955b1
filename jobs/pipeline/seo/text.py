"""Markdown split into what the checks read: headings, paragraphs, items, sentences, words, links, images.

Every pattern here is bounded or cannot overlap itself, so a document is read in linear time: a bracket run
stops at the next bracket, a URL stops at the next parenthesis or space. Links, images and citations are taken
out of the inline text here, before ``scoring.plain_text`` reduces what is left to prose.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from ..scoring import headings_of, plain_text, words_of
from .keyphrase import stem

Kind = Literal["heading", "paragraph", "item"]

SOURCES_TITLES = frozenset(
    {"sources", "references", "bibliography", "citations", "works cited", "further reading", "notes"}
)

_FENCES = ("```", "~~~")
LIST_ITEM_RE = re.compile(r"[ \t]{0,3}(?:[-*+]|\d{1,9}[.)])[ \t]")
IMAGE_RE = re.compile(r"!\[([^\[\]\n]{0,300})\]\(([^()\s]{0,2000})(?:[ \t]+\"[^\"\n]{0,300}\")?\)")
_LINK_RE = re.compile(r"\[([^\[\]\n]{0,500})\]\(([^()\s]{0,2000})(?:[ \t]+\"[^\"\n]{0,300}\")?\)")
_AUTOLINK_RE = re.compile(r"<(https?://[^<>\s]{1,2000})>")
_BARE_URL_RE = re.compile(r"https?://[^\s<>()\[\]]{1,2000}")
_CITATION_RE = re.compile(r"\[\^?(\d{1,3})\]")
_TAG_RE = re.compile(r"<[^<>\n]{0,300}>")
_SPACE_RE = re.compile(r"\s+")
# A sentence ends at . ! or ? (optionally followed by citations, quotes or closing marks) before a space and
# a capital letter or digit. The look-behind makes a run of dots match once, at its start.
_SENTENCE_END_RE = re.compile(r"(?<![.!?])[.!?]+(?:\[\^?\d{1,3}\])*[\"'”’)*_]*(?=\s+[\"'“‘(*_\[]*[A-Z0-9])")
_LAST_TOKEN_RE = re.compile(r"(\w+)\W*$")
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "no", "fig", "approx", "inc", "ltd", "jr", "sr"}
)


@dataclass(frozen=True, slots=True)
class Link:
    text: str
    url: str
    in_sources: bool

    @property
    def external(self) -> bool:
        return self.url.lower().startswith(("http://", "https://"))

    @property
    def internal(self) -> bool:
        """A relative URL: a page of the same site (a bare ``#anchor`` is the same page, not a link)."""
        url = self.url.lower()
        return (
            bool(url) and not url.startswith(("#", "//", "mailto:", "tel:")) and ":" not in url.split("/")[0]
        )


@dataclass(frozen=True, slots=True)
class Image:
    alt: str
    src: str


@dataclass(frozen=True, slots=True)
class Sentence:
    text: str
    words: tuple[str, ...]
    stems: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Sentence:
        words = tuple(words_of(text))
        return cls(text, words, tuple(stem(word) for word in words))


@dataclass(frozen=True, slots=True)
class Block:
    kind: Kind
    level: int
    text: str
    sentences: tuple[Sentence, ...]
    start: int
    stop: int
    in_sources: bool = False

    @property
    def word_count(self) -> int:
        return sum(len(sentence.words) for sentence in self.sentences)


@dataclass(frozen=True)
class Document:
    lines: tuple[str, ...]
    blocks: tuple[Block, ...]
    links: tuple[Link, ...]
    images: tuple[Image, ...]
    citations: frozenset[int]

    @cached_property
    def headings(self) -> list[Block]:
        return [block for block in self.blocks if block.kind == "heading"]

    @cached_property
    def subheadings(self) -> list[Block]:
        """H2 and H3 headings of the article proper (not the sources section's)."""
        return [block for block in self.headings if block.level in (2, 3) and not block.in_sources]

    @cached_property
    def prose(self) -> list[Block]:
        """Paragraphs and list items outside the sources section."""
        return [block for block in self.blocks if block.kind != "heading" and not block.in_sources]

    @cached_property
    def paragraphs(self) -> list[Block]:
        return [block for block in self.prose if block.kind == "paragraph"]

    @cached_property
    def sentences(self) -> list[Sentence]:
        return [sentence for block in self.prose for sentence in block.sentences]

    @cached_property
    def word_count(self) -> int:
        return sum(block.word_count for block in self.prose)

    @property
    def intro(self) -> Block | None:
        return self.prose[0] if self.prose else None


def split_sentences(text: str) -> list[str]:
    """Sentences of one block of prose or raw Markdown, in order, stripped."""
    pieces = []
    start = 0
    for match in _SENTENCE_END_RE.finditer(text):
        before = _LAST_TOKEN_RE.search(text, max(start, match.start() - 12), match.start())
        token = before.group(1) if before else ""
        # "e.g.", "U.S.", "J. Smith" and "Dr. Lee" do not end a sentence.
        if len(token) == 1 or token.lower() in _ABBREVIATIONS:
            continue
        piece = text[start : match.end()].strip()
        if piece:
            pieces.append(piece)
        start = match.end()
    tail = text[start:].strip()
    if tail:
        pieces.append(tail)
    return pieces


def _sentences(text: str) -> tuple[Sentence, ...]:
    found = (Sentence.of(piece) for piece in split_sentences(text))
    return tuple(sentence for sentence in found if sentence.words)


class _Inline:
    """Collects links, images and citations while reducing inline Markdown to prose."""

    def __init__(self) -> None:
        self.links: list[Link] = []
        self.images: list[Image] = []
        self.citations: set[int] = set()
        self.in_sources = False

    def prose(self, raw: str) -> str:
        text = IMAGE_RE.sub(self._image, raw)
        text = _AUTOLINK_RE.sub(self._autolink, text)
        text = _LINK_RE.sub(self._link, text)
        text = _CITATION_RE.sub(self._citation, text)
        text = _BARE_URL_RE.sub(self._bare_url, text)
        text = _TAG_RE.sub(" ", text).replace("[", " ").replace("]", " ")
        return plain_text(_SPACE_RE.sub(" ", text).strip())

    def _image(self, match: re.Match[str]) -> str:
        self.images.append(Image(match.group(1).strip(), match.group(2)))
        return f" {match.group(1)} "

    def _autolink(self, match: re.Match[str]) -> str:
        self.links.append(Link("", match.group(1), self.in_sources))
        return " "

    def _link(self, match: re.Match[str]) -> str:
        self.links.append(Link(match.group(1).strip(), match.group(2), self.in_sources))
        return f" {match.group(1)} "

    def _citation(self, match: re.Match[str]) -> str:
        if not self.in_sources:
            self.citations.add(int(match.group(1)))
        return " "

    def _bare_url(self, match: re.Match[str]) -> str:
        self.links.append(Link("", match.group(0).rstrip(".,;:"), self.in_sources))
        return " "


def _raw_blocks(lines: list[str]) -> Iterator[tuple[Kind, int, str, int, int]]:
    """(kind, heading level, raw text, first line, stop line) of each block, skipping fenced code."""
    fenced = False
    buffer: list[str] = []
    kind: Kind = "paragraph"
    start = 0
    for number, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(_FENCES) or fenced or not stripped or _is_table_rule(stripped):
            if buffer:
                yield kind, 0, " ".join(buffer), start, number
                buffer = []
            if stripped.startswith(_FENCES):
                fenced = not fenced
            continue
        heading = headings_of(line)
        if heading:
            if buffer:
                yield kind, 0, " ".join(buffer), start, number
                buffer = []
            yield "heading", len(heading[0][0]), heading[0][1], number, number + 1
            continue
        # A list item or a table row starts a block of its own.
        starts_item = bool(LIST_ITEM_RE.match(line)) or stripped.startswith("|")
        if starts_item and buffer:
            yield kind, 0, " ".join(buffer), start, number
            buffer = []
        if not buffer:
            kind = "item" if starts_item else "paragraph"
            start = number
        buffer.append(stripped)
    if buffer:
        yield kind, 0, " ".join(buffer), start, len(lines)


def _is_table_rule(stripped: str) -> bool:
    return "---" in stripped and not stripped.strip("|-: \t")


def parse(markdown: str) -> Document:
    """The document's blocks in order; everything under a "Sources" heading is marked ``in_sources``."""
    lines = markdown.splitlines()
    inline = _Inline()
    blocks: list[Block] = []
    sources_level = 0
    for kind, level, raw, start, stop in _raw_blocks(lines):
        if kind == "heading":
            if sources_level and level <= sources_level:
                sources_level = 0
            inline.in_sources = bool(sources_level)
            text = inline.prose(raw)
            if text.endswith(".") and not raw.rstrip().endswith("."):
                text = text[:-1]
            if not sources_level and _SPACE_RE.sub(" ", text.lower().strip(" :.")) in SOURCES_TITLES:
                sources_level = level
                inline.in_sources = True
            sentence = Sentence.of(text)
            sentences = (sentence,) if sentence.words else ()
            blocks.append(Block("heading", level, text, sentences, start, stop, inline.in_sources))
            continue
        text = inline.prose(raw)
        if text:
            blocks.append(Block(kind, 0, text, _sentences(text), start, stop, bool(sources_level)))
    return Document(
        lines=tuple(lines),
        blocks=tuple(blocks),
        links=tuple(inline.links),
        images=tuple(inline.images),
        citations=frozenset(inline.citations),
    )
