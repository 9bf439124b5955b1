"""Prompts a small local model can follow, and pure fixes for what it gets wrong (no crewAI, no llama.cpp).

A 135M-parameter model follows one short instruction at a time, loses the thread after a few hundred
tokens and repeats itself. So the article is planned here (title, outline, words per section), each
section is one short generation, and the text is cleaned: repeated sentences and paragraphs cut, stray
headings and lists removed, the meta fields forced into their lengths with the focus keyword.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .contracts import JobInput
from .offline_text import subject_for
from .scoring import META_DESCRIPTION_LIMIT, META_TITLE_LIMIT, clip_meta_description, clip_meta_title

# Measured with SmolLM2-135M: about 1.3 tokens per English word; the margin lets a section end its sentence.
TOKENS_PER_WORD = 1.6
MIN_SECTION_WORDS = 40
MAX_SECTION_WORDS = 140
MAX_EXTRA_SECTIONS = 6
# Shorter "sentences" are list numbers and fragments ("1.", "Yes!").
MIN_SENTENCE_WORDS = 3
OUTLINE_SIZE = (2, 6)
_SENTENCE_RE = re.compile(r"[^.!?]+(?:[.!?]+[\"')\]]*|$)\s*")
_LIST_MARK_RE = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|#+)\s*")
_ITEM_LABEL_RE = re.compile(r"^(section|heading|title|topic)\s*\d*\s*[:.-]\s*", re.IGNORECASE)
_ANSWER_LABEL_RE = re.compile(
    r"^\s*\**\s*((seo |meta )?title|(meta )?description)\s*\**\s*:\s*", re.IGNORECASE
)
_PLACEHOLDER_RE = re.compile(r"\[[^\]]*\]\s*[-:–]?\s*|\(.*?\)")
# The model talking about the task instead of doing it ("Sure, here's a paragraph for the section ...").
_META_TALK_RE = re.compile(
    r"^(sure|certainly|of course|title:)|\bhere('s| is) (a|an|the|my)\b"
    r"|\b(paragraph|section|blog (post|article)) (for|about) the (section|blog)\b"
    r"|\bno lists?\b|\bheadings?\b",
    re.IGNORECASE,
)
_STOPWORDS = frozenset(
    ("a", "an", "and", "the", "of", "for", "in", "on", "to", "with", "your", "you", "how", "why", "what")
    + ("is", "are", "small", "big", "best", "guide")
)
_GENERIC = {"heading", "headings", "title", "titles", "topics", "section headings", "outline"}
_EXTRA_HEADINGS = (
    "Common mistakes to avoid",
    "Tips from experience",
    "Questions people often ask",
    "Planning the next step",
    "What it costs",
    "Tools that help",
)


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str
    max_tokens: int

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


_SYSTEM = "You are a helpful writer. Answer in plain English. Follow the instruction exactly."


def norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def words_in(text: str) -> int:
    return len(text.split())


def title_for(job: JobInput) -> str:
    subject = subject_for(job)
    topic = subject.topic.strip().rstrip(".")
    return topic[:1].upper() + topic[1:] if topic else subject.keyword.capitalize()


def outline_prompt(job: JobInput) -> Prompt:
    subject = subject_for(job)
    focus = f" Use the keyword '{subject.keyword}' in one of them." if job.mode == "keywords" else ""
    return Prompt(
        _SYSTEM,
        f"What are 4 topics to cover in a blog post about {subject.topic}?{focus} "
        "Answer with a numbered list of short titles.",
        max_tokens=80,
    )


def section_prompt(
    job: JobInput, heading: str, words: int, *, intro: bool = False, last: bool = False
) -> Prompt:
    subject = subject_for(job)
    if intro:
        task = (
            f"Write the opening paragraph of a blog article about {subject.topic}. "
            f"Use the words '{subject.keyword}'."
        )
    elif last:
        task = f"Write a short closing paragraph for a blog article about {subject.topic}."
    else:
        task = f"Write a paragraph for the section '{heading}' of a blog article about {subject.topic}."
    if job.mode == "spin" and job.source_text.strip():
        task += f" Use the facts in this text, in your own words: {job.source_text.strip()[:600]}"
    return Prompt(
        _SYSTEM,
        f"{task} Write about {words} words in a {job.tone} tone. Plain sentences, no headings, no lists.",
        max_tokens=int(words * TOKENS_PER_WORD) + 16,
    )


def title_prompt(job: JobInput) -> Prompt:
    return Prompt(
        _SYSTEM,
        f"Write a short SEO title (under 60 characters) for a blog post about {subject_for(job).keyword}. "
        "Answer with the title only.",
        max_tokens=30,
    )


def description_prompt(job: JobInput) -> Prompt:
    return Prompt(
        _SYSTEM,
        f"Write one sentence that describes a blog post about {subject_for(job).keyword}.",
        max_tokens=50,
    )


def parse_outline(text: str, job: JobInput) -> list[str]:
    """Headings from a model's list, cleaned and deduplicated; padded from a fixed set when too few.

    When some lines carry list markers, only those count: the others are the model's preamble.
    """
    lines = [raw for raw in text.splitlines() if raw.strip()]
    if any(_marked(raw) for raw in lines):
        lines = [raw for raw in lines if _marked(raw)]
    headings: list[str] = []
    seen: set[str] = set()
    topic_words = _content_words(f"{subject_for(job).topic} {subject_for(job).keyword}")
    for raw in lines:
        if raw.rstrip().endswith(":"):
            continue
        line = unquote(_LIST_MARK_RE.sub("", raw).strip().strip("*_").strip())
        line = _ITEM_LABEL_RE.sub("", _PLACEHOLDER_RE.sub("", line)).strip().rstrip(":.")
        key = norm(line)
        if not key or key in _GENERIC or len(line) > 70 or len(key.split()) > 10 or key in seen:
            continue
        if "#" in line or not _content_words(line) & topic_words:
            continue
        seen.add(key)
        headings.append(line[:1].upper() + line[1:])
    keyword = subject_for(job).keyword
    if not any(norm(keyword) in norm(h) for h in headings):
        headings.insert(0, f"Why {keyword} matters")
    for extra in _EXTRA_HEADINGS:
        if len(headings) >= OUTLINE_SIZE[0] + 1:
            break
        if norm(extra) not in seen:
            headings.append(extra)
    return headings[: OUTLINE_SIZE[1]]


def _content_words(text: str) -> set[str]:
    """Lower-case words that carry meaning, crudely stemmed so "composting" meets "compost"."""
    return {w.removesuffix("ing").removesuffix("s") for w in norm(text).split() if w not in _STOPWORDS}


def _marked(line: str) -> bool:
    match = _LIST_MARK_RE.match(line)
    return bool(match and match.group(0).strip())


def unquote(text: str) -> str:
    text = text.strip()
    while len(text) >= 2 and text[0] in "\"'“‘" and text[-1] in "\"'”’":
        text = text[1:-1].strip()
    return text.lstrip('"“').rstrip('"”') if text.count('"') % 2 else text


def outline_brief(job: JobInput, headings: list[str]) -> str:
    """The research stage's stored output, and what the writer reads back from the crew's context."""
    lines = "\n".join(f"- {h}" for h in headings)
    return f"# Research brief: {title_for(job)}\n\n## Outline\n{lines}\n"


def outline_from_brief(text: str) -> list[str]:
    match = re.search(r"(?ms)^## Outline\s*\n(.*?)(?:\n\s*\n|\Z)", text)
    if not match:
        return []
    return [
        line[2:].strip() for line in match.group(1).splitlines() if line.startswith("- ") and line[2:].strip()
    ]


def section_words(word_count: int, sections: int) -> int:
    """Words per body section when the intro and conclusion take a share each."""
    return max(MIN_SECTION_WORDS, min(MAX_SECTION_WORDS, round(word_count / max(1, sections + 2))))


def extra_headings(existing: list[str]) -> list[str]:
    """Headings for continuing sections, none repeating one the article already has."""
    taken = {norm(h) for h in existing}
    return [h for h in _EXTRA_HEADINGS if norm(h) not in taken]


def sentences(text: str) -> list[str]:
    return [s for s in (m.group(0) for m in _SENTENCE_RE.finditer(text)) if s.strip()]


def clean_paragraph(text: str, seen: set[str]) -> str:
    """One paragraph of prose: no headings, lists or markup, no sentence already in ``seen`` (updated).

    Also drops an unfinished last sentence, which a token limit leaves behind.
    """
    lines = [_LIST_MARK_RE.sub("", line).strip() for line in text.replace("**", "").splitlines()]
    prose = unquote(" ".join(line for line in lines if line))
    kept: list[str] = []
    parts = sentences(prose)
    for index, sentence in enumerate(parts):
        stripped = sentence.strip()
        if index == len(parts) - 1 and index > 0 and stripped[-1:] not in ".!?\"')":
            break
        key = norm(stripped)
        if len(key.split()) < MIN_SENTENCE_WORDS or key in seen or _META_TALK_RE.search(stripped):
            continue
        seen.add(key)
        kept.append(stripped)
    return " ".join(kept)


def dedupe_paragraphs(markdown: str) -> str:
    """Cuts paragraphs and sentences that repeat earlier ones; headings stay."""
    seen_paragraphs: set[str] = set()
    seen_sentences: set[str] = set()
    blocks: list[str] = []
    for block in re.split(r"\n\s*\n", markdown.strip()):
        block = block.strip()
        if not block:
            continue
        if block.startswith("#"):
            blocks.append(block)
            continue
        key = norm(block)
        if key in seen_paragraphs:
            continue
        seen_paragraphs.add(key)
        cleaned = clean_paragraph(block, seen_sentences)
        if cleaned:
            blocks.append(cleaned)
    # A heading left with no text under it goes too.
    kept = [
        b
        for i, b in enumerate(blocks)
        if not (b.startswith("## ") and (i + 1 == len(blocks) or blocks[i + 1].startswith("#")))
    ]
    return "\n\n".join(kept) + "\n"


def trim_to_words(markdown: str, limit: int) -> str:
    """Drops whole sentences from the end of the body until the article has at most ``limit`` words."""
    blocks = [b.strip() for b in re.split(r"\n\s*\n", markdown.strip()) if b.strip()]
    total = sum(words_in(b.lstrip("#")) for b in blocks)
    while total > limit and blocks:
        last = blocks[-1]
        if last.startswith("#"):
            blocks.pop()
            total -= words_in(last.lstrip("#"))
            continue
        parts = sentences(last)
        if len(parts) <= 1:
            blocks.pop()
            total -= words_in(last)
            continue
        removed = parts.pop()
        blocks[-1] = "".join(parts).strip()
        total -= words_in(removed)
    return "\n\n".join(blocks) + "\n"


def plain_paragraphs(markdown: str) -> list[str]:
    return [b.strip() for b in re.split(r"\n\s*\n", markdown) if b.strip() and not b.strip().startswith("#")]


def ensure_structure(markdown: str, job: JobInput) -> str:
    """One '# ' title, the focus keyword in the first paragraph and in a '## ' heading, two '## ' at least."""
    keyword = subject_for(job).keyword
    blocks = [b.strip() for b in re.split(r"\n\s*\n", markdown.strip()) if b.strip()]
    blocks = [b for b in blocks if not b.startswith("# ")]
    body = [("## " + b.lstrip("#").strip()) if b.startswith("#") else b for b in blocks]
    paragraphs = [i for i, b in enumerate(body) if not b.startswith("#")]
    if not paragraphs:
        body.insert(0, f"This article is about {keyword}.")
        paragraphs = [0]
    first = paragraphs[0]
    if norm(keyword) not in norm(body[first]):
        body[first] = f"This guide is about {keyword}. {body[first]}"
    headings = [i for i, b in enumerate(body) if b.startswith("## ")]
    if not any(norm(keyword) in norm(body[i]) for i in headings):
        body.insert(first + 1, f"## Why {keyword} matters")
    while sum(1 for b in body if b.startswith("## ")) < 2:
        body.append(f"## {extra_headings([])[0]}" if len(body) % 2 else "## Final thoughts")
        body.append(f"Keep {keyword} simple and start small.")
    return f"# {title_for(job)}\n\n" + "\n\n".join(body) + "\n"


def first_line(text: str) -> str:
    """A one-line answer: the first non-empty line, without a label, list mark or quotes."""
    line = next((raw for raw in text.splitlines() if raw.strip()), "")
    line = re.sub(
        r"^\s*\**\s*(seo title|meta title|title|description|meta description)\s*\**\s*:\s*",
        "",
        line,
        flags=re.I,
    )
    return unquote(_LIST_MARK_RE.sub("", line).strip().strip("*"))


def meta_title(candidate: str, job: JobInput) -> str:
    keyword = subject_for(job).keyword
    title = re.sub(r"\s+", " ", candidate).strip().strip("#").strip()
    if not title or norm(keyword) not in norm(title):
        title = title_for(job)
        if norm(keyword) not in norm(title):
            title = f"{keyword.capitalize()}: {title}"
    if len(title) < 30:
        title = f"{title}: A Practical Guide"
    clipped = clip_meta_title(title)
    return clipped if norm(keyword) in norm(clipped) else clip_meta_title(keyword.capitalize())


def meta_description(candidate: str, article: str, job: JobInput) -> str:
    """70-160 characters of whole sentences with the focus keyword: the model's, then the article's."""
    keyword = subject_for(job).keyword
    pool = [s.strip() for s in sentences(re.sub(r"\s+", " ", unquote(candidate)))]
    if not any(norm(keyword) in norm(s) for s in pool):
        pool.insert(0, f"A practical guide to {keyword}.")
    for paragraph in plain_paragraphs(article)[:2]:
        pool.extend(s.strip() for s in sentences(paragraph))
    pool.append(f"Learn the basics of {keyword} step by step.")
    text = ""
    for sentence in pool:
        if sentence[-1:] not in ".!?":
            continue
        joined = f"{text} {sentence}".strip()
        if len(joined) > META_DESCRIPTION_LIMIT:
            continue
        text = joined
        if len(text) >= 110:
            break
    return text if len(text) >= 70 else clip_meta_description(f"{text} {' '.join(pool)}")


def within_limits(title: str, description: str) -> bool:
    return 0 < len(title) <= META_TITLE_LIMIT and 0 < len(description) <= META_DESCRIPTION_LIMIT
