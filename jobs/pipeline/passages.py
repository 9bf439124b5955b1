"""Source text split into passages, the unit of retrieval and of citation.

Blocks come from headings (which set the heading a passage cites) and blank-line paragraphs; a passage
never spans two headings or two pages, so it cites one of each. Paragraphs are packed to about TARGET_WORDS,
never more than MAX_WORDS (a longer paragraph is cut at sentence ends,
or hard at MAX_WORDS where it has none), and a short tail joins the passage before it. Each passage keeps
its heading, its page (for a PDF) and its character offsets in the source text.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

TARGET_WORDS = 120
MIN_WORDS = 40
MAX_WORDS = 200

_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}[ \t]+")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(\[])")
_WORD_RE = re.compile(r"\S+")


@dataclass(frozen=True)
class Passage:
    text: str
    heading: str
    page: int | None
    start: int
    end: int

    @property
    def words(self) -> int:
        return len(self.text.split())


@dataclass
class _Block:
    text: str
    heading: str
    start: int
    end: int


def _blocks(text: str) -> Iterator[_Block]:
    """Paragraphs (runs of non-blank lines) with the heading they sit under; headings themselves are not
    blocks. Linear in the text: one pass over its lines."""
    heading = ""
    offset = 0
    lines: list[str] = []
    start = 0
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        marker = _HEADING_RE.match(line)
        if not stripped or marker:
            if lines:
                body = " ".join(part.strip() for part in lines)
                yield _Block(body, heading, start, offset)
                lines = []
            if marker:
                heading = line[marker.end() :].strip().strip("#").strip()[:200]
        else:
            if not lines:
                start = offset
            lines.append(line)
        offset += len(line)
    if lines:
        yield _Block(" ".join(part.strip() for part in lines), heading, start, offset)


def _pieces(block: _Block) -> Iterator[_Block]:
    """A block of at most MAX_WORDS words, or its sentences packed under MAX_WORDS, or hard cuts."""
    if len(block.text.split()) <= MAX_WORDS:
        yield block
        return
    sentences = _SENTENCE_END_RE.split(block.text)
    current: list[str] = []
    count = 0
    for sentence in sentences:
        words = sentence.split()
        while len(words) > MAX_WORDS:  # no sentence end to cut at: cut at MAX_WORDS words
            if current:
                yield _Block(" ".join(current), block.heading, block.start, block.end)
                current, count = [], 0
            yield _Block(" ".join(words[:MAX_WORDS]), block.heading, block.start, block.end)
            words = words[MAX_WORDS:]
        if count + len(words) > MAX_WORDS and current:
            yield _Block(" ".join(current), block.heading, block.start, block.end)
            current, count = [], 0
        if words:
            current.append(" ".join(words))
            count += len(words)
    if current:
        yield _Block(" ".join(current), block.heading, block.start, block.end)


def split(text: str, *, page_starts: Sequence[int] = ()) -> list[Passage]:
    """Passages of `text`. `page_starts` gives the offset where each page begins (a PDF's pages joined
    with blank lines), so a passage cites the page it starts on."""

    def page_of(offset: int) -> int | None:
        return bisect.bisect_right(page_starts, offset) if page_starts else None

    out: list[Passage] = []
    current: list[_Block] = []
    count = 0

    def close() -> None:
        nonlocal current, count
        if not current:
            return
        body = " ".join(block.text for block in current)
        first, last = current[0], current[-1]
        out.append(Passage(body, first.heading, page_of(first.start), first.start, last.end))
        current, count = [], 0

    def section(block: _Block) -> tuple[str, int | None]:
        return block.heading, page_of(block.start)

    for block in _blocks(text):
        for piece in _pieces(block):
            words = len(piece.text.split())
            same_section = not current or section(current[-1]) == section(piece)
            full = count + words > TARGET_WORDS and (count >= MIN_WORDS or count + words > MAX_WORDS)
            if current and (full or not same_section):
                close()
            current.append(piece)
            count += words
    if current and count < MIN_WORDS and out and (out[-1].heading, out[-1].page) == section(current[0]):
        tail = " ".join(block.text for block in current)
        merged = f"{out[-1].text} {tail}"
        if len(merged.split()) <= MAX_WORDS:
            last = out.pop()
            out.append(Passage(merged, last.heading, last.page, last.start, current[-1].end))
            current = []
    close()
    return [p for p in out if _WORD_RE.search(p.text)]
