"""Deterministic rewrites of the article's blocks (headings and paragraphs), and the helpers they share.

They work on the raw Markdown of whole blocks, so links, citations and emphasis survive, and a rewritten block
becomes one line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from ..scoring import words_of
from .keyphrase import Phrase, Topic, stems
from .readability_checks import PARAGRAPH_GOOD
from .structure_checks import SECTION_GOOD
from .text import IMAGE_RE, LIST_ITEM_RE, Block, Document, parse, split_sentences
from .words import FUNCTION_WORDS

# New sections aim under Yoast's 300 words, so a sentence-granular cut stays within it.
SECTION_TARGET = 250


def join_lines(lines: list[str], original: str) -> str:
    text = "\n".join(lines)
    return text + "\n" if original.endswith("\n") else text


def raw_text(doc: Document, block: Block) -> str:
    return " ".join(line.strip() for line in doc.lines[block.start : block.stop])


def edit_lines(content: str, doc: Document, edits: list[tuple[int, int, list[str]]]) -> str:
    """The content with each (start, stop, lines) edit applied to the lines of ``doc``, from the last up."""
    lines = list(doc.lines)
    for start, stop, new in sorted(edits, key=lambda edit: (edit[0], edit[1]), reverse=True):
        lines[start:stop] = new
    return join_lines(lines, content)


def replace_blocks(content: str, doc: Document, new: dict[int, list[str]]) -> str:
    """The content with the lines of each block (by index in ``doc.blocks``) replaced."""
    edits = [(doc.blocks[index].start, doc.blocks[index].stop, lines) for index, lines in new.items()]
    return edit_lines(content, doc, edits)


def list_marker(raw: str) -> tuple[str, str]:
    """A list item's marker and its text; ("", raw) for a paragraph."""
    match = LIST_ITEM_RE.match(raw)
    return (raw[: match.end()], raw[match.end() :]) if match else ("", raw)


def rewrite_sentences(content: str, change: Callable[[list[str]], list[str]]) -> str:
    """Every prose block's sentences passed through ``change``; blocks it leaves alone keep their lines."""
    doc = parse(content)
    new: dict[int, list[str]] = {}
    for index, block in enumerate(doc.blocks):
        if block.kind == "heading" or block.in_sources:
            continue
        marker, raw = list_marker(raw_text(doc, block))
        sentences = split_sentences(raw)
        changed = change(sentences)
        if changed != sentences:
            new[index] = [marker + " ".join(changed)]
    return replace_blocks(content, doc, new) if new else content


def _chunks(sentences: list[str], size: float) -> list[str]:
    """Consecutive sentences grouped into runs of about ``size`` words, each run joined into one line."""
    chunks: list[list[str]] = [[]]
    words = 0
    for sentence in sentences:
        count = len(words_of(sentence))
        if chunks[-1] and words + count > size:
            chunks.append([])
            words = 0
        chunks[-1].append(sentence)
        words += count
    return [" ".join(chunk) for chunk in chunks]


def split_long_paragraphs(content: str) -> str:
    """Each paragraph of over 150 words split at sentence ends into parts of about 120 words."""
    doc = parse(content)
    new: dict[int, list[str]] = {}
    for index, block in enumerate(doc.blocks):
        if block.kind != "paragraph" or block.in_sources or block.word_count <= PARAGRAPH_GOOD:
            continue
        size = block.word_count / math.ceil(block.word_count / (PARAGRAPH_GOOD * 0.8))
        chunks = _chunks(split_sentences(raw_text(doc, block)), size)
        if len(chunks) > 1:
            new[index] = [line for chunk in chunks for line in (chunk, "")][:-1]
    return replace_blocks(content, doc, new) if new else content


def _heading_from(text: str) -> str:
    """A subheading made of the opening words of a paragraph's first sentence."""
    block = next((block for block in parse(text).prose if block.sentences), None)
    words = block.sentences[0].text.rstrip(".!?:;").split()[:8] if block else []
    while words and words[-1].lower().strip(",;:") in FUNCTION_WORDS:
        words.pop()
    return capitalise(" ".join(words).strip(" ,;:")) or "More details"


def _sections(doc: Document) -> list[tuple[int, list[int]]]:
    """(level for a new subheading, prose block indexes) of each run of prose between two headings."""
    sections: list[tuple[int, list[int]]] = [(2, [])]
    for index, block in enumerate(doc.blocks):
        if block.in_sources:
            continue
        if block.kind == "heading":
            sections.append((max(2, block.level), []))
        else:
            sections[-1][1].append(index)
    return [section for section in sections if section[1]]


def add_subheadings(content: str) -> str:
    """Each run of over 300 words cut into sections of about 250 at paragraph boundaries (sentence ends
    inside a longer paragraph), each new section under a subheading made of its opening words."""
    doc = parse(content)
    edits: list[tuple[int, int, list[str]]] = []
    for level, section in _sections(doc):
        total = sum(doc.blocks[index].word_count for index in section)
        if total <= SECTION_GOOD:
            continue
        size = total / math.ceil(total / SECTION_TARGET)
        hashes = "#" * level
        words = 0
        for index in section:
            block = doc.blocks[index]
            raw = raw_text(doc, block)
            if words and words + block.word_count > size:
                edits.append((block.start, block.start, [f"{hashes} {_heading_from(raw)}", ""]))
                words = 0
            if block.kind != "paragraph" or block.word_count <= size:
                words += block.word_count
                continue
            chunks = _chunks(split_sentences(raw), size)
            lines = [chunks[0]]
            for chunk in chunks[1:]:
                lines.extend(["", f"{hashes} {_heading_from(chunk)}", "", chunk])
            edits.append((block.start, block.stop, lines))
            words = len(words_of(chunks[-1]))
    return edit_lines(content, doc, edits) if edits else content


def drop_extra_h1(content: str) -> str:
    doc = parse(content)
    titles = [block for block in doc.headings if block.level == 1]
    if len(titles) < 2:
        return content
    lines = list(doc.lines)
    for block in titles[1:]:
        lines[block.start] = "#" + lines[block.start]
    return join_lines(lines, content)


def phrase_pattern(text: str) -> re.Pattern[str] | None:
    """The words of ``text`` in order, whole words, any case, with an optional plural or possessive ending."""
    words = words_of(text)
    if not words:
        return None
    body = r"[\W_]+".join(re.escape(word) + r"(?:['’]?s|es)?" for word in words)
    return re.compile(rf"(?<![\w'’-]){body}(?![\w'’-])", re.IGNORECASE)


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:] if text[:1].isalpha() else text


def open_with_keyphrase(content: str, keyphrase: str) -> str:
    """A first sentence naming the keyphrase, put before the first paragraph (or after the H1 if none)."""
    keyphrase = " ".join(keyphrase.split())
    doc = parse(content)
    opening = f"This guide is about {keyphrase}."
    lines = list(doc.lines)
    intro = doc.intro
    if intro is not None and intro.kind == "paragraph":
        lines[intro.start : intro.stop] = [f"{opening} {raw_text(doc, intro)}"]
    else:
        at = next((block.stop for block in doc.headings if block.level == 1), 0)
        lines[at:at] = ["", opening, ""]
    return join_lines(lines, content)


def keyphrase_in_title(content: str, keyphrase: str) -> str:
    """The H1 opened with "Keyphrase:", or an H1 of the keyphrase where there is none."""
    keyphrase = capitalise(" ".join(keyphrase.split()))
    doc = parse(content)
    lines = list(doc.lines)
    title = next((block for block in doc.headings if block.level == 1), None)
    if title is None:
        lines[0:0] = [f"# {keyphrase}", ""]
    else:
        lines[title.start] = f"# {keyphrase}: {title.text}"
    return join_lines(lines, content)


def keyphrase_in_subheadings(content: str, keyphrase: str) -> str:
    """Evenly spread H2/H3 subheadings opened with "Keyphrase:" until 30% of them reflect it."""
    topic = Topic.of(keyphrase, ())
    doc = parse(content)
    subheadings = doc.subheadings
    missing = [block for block in subheadings if not topic.reflected(stems(block.text))]
    needed = math.ceil(0.3 * len(subheadings)) - (len(subheadings) - len(missing))
    if needed <= 0 or not missing:
        return content
    step = len(missing) / needed
    chosen = {missing[int(index * step)].start for index in range(min(needed, len(missing)))}
    lines = list(doc.lines)
    opening = capitalise(" ".join(keyphrase.split()))
    for block in subheadings:
        if block.start in chosen:
            lines[block.start] = f"{'#' * block.level} {opening}: {block.text}"
    return join_lines(lines, content)


def describe_images(content: str, keyphrase: str) -> str:
    """Empty alt texts filled from the image's file name; the first alt text opened with the keyphrase when
    none reflects it."""
    phrase = Phrase.of(keyphrase)
    images = parse(content).images
    reflected = not phrase or any(phrase.share_in(stems(image.alt)) >= 0.5 for image in images if image.alt)

    def alt_text(match: re.Match[str]) -> str:
        nonlocal reflected
        alt, src = match.group(1).strip(), match.group(2)
        if not alt:
            alt = " ".join(words_of(src.rsplit("/", 1)[-1].rsplit(".", 1)[0])) or "Illustration"
        if not reflected:
            alt = f"{capitalise(keyphrase.strip())}: {alt}"
            reflected = True
        return f"![{capitalise(alt)}]({src})"

    return IMAGE_RE.sub(alt_text, content)
