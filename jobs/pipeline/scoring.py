"""Pure article text helpers: prose from Markdown, words, headings, Flesch reading ease, meta clipping.

The SEO and readability scores come from the analyzer, ``jobs.pipeline.seo``, which builds on these.
"""

from __future__ import annotations

import re
from functools import cache

META_TITLE_LIMIT = 60
META_DESCRIPTION_LIMIT = 160

WORD_RE = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*")
# Linear-time patterns: a bracket run stops at the next bracket and a URL at the next parenthesis that does
# not close one level of nesting (``/wiki/Python_(language)``), so no start position rescans what an earlier
# one read ("[" * n, "![" * n). Link text with nested brackets is rare in prose; it stays as written.
_URL = r"\((?:[^()]|\([^()]*\))*\)"
_IMAGE_RE = re.compile(r"!\[([^\[\]]*)\]" + _URL)
_LINK_RE = re.compile(r"\[([^\[\]]*)\]" + _URL)
_LINE_MARKER_RE = re.compile(r"^\s{0,3}(?:#{1,6}\s+|>\s?|[-*+]\s+|\d+[.)]\s+)")
_INLINE_MARK_RE = re.compile(r"(\*\*|__|\*|`|~~)")
_SPACES_RE = re.compile(r"\s+")
# Only the opening hashes and the space after them: a lazy `(.+?)\s*#*\s*$` backtracks cubically on a line of
# spaces, holding the GIL. The closing hashes are stripped with str methods instead.
_HEADING_START_RE = re.compile(r"(#{1,6})[ \t]+")
_FENCE = "```"


def _without_fences(lines: list[str]) -> list[str]:
    """The lines outside fenced code: a line opening with ``` up to the next line that is only ``` (and
    spaces), both included; a fence that never closes is left as text. One pass from the end finds each
    line's next closing line, so a run of unclosed fences is read once, not once per fence."""
    next_close: list[int | None] = [None] * (len(lines) + 1)
    for index in range(len(lines) - 1, -1, -1):
        closes = lines[index].startswith(_FENCE) and not lines[index][len(_FENCE) :].strip()
        next_close[index] = index if closes else next_close[index + 1]
    kept: list[str] = []
    index = 0
    while index < len(lines):
        close = next_close[index + 1] if lines[index].startswith(_FENCE) else None
        if close is None:
            kept.append(lines[index])
            index += 1
        else:
            index = close + 1
    return kept


def _is_table_rule(line: str) -> bool:
    r"""A table's delimiter row (``|---|:--:|``), read with str methods: the pattern ``^\s*\|?\s*:?-{3,}``
    backtracked quadratically on a long run of spaces."""
    rest = line.lstrip()
    if rest.startswith("|"):
        rest = rest[1:].lstrip()
    return rest.removeprefix(":").startswith("---")


def plain_text(markdown: str) -> str:
    """Markdown reduced to prose, one block per line, each ending like a sentence; linear in its size."""
    text = "\n".join(_without_fences(markdown.splitlines()))
    text = _LINK_RE.sub(r"\1", _IMAGE_RE.sub(r"\1", text))
    lines = []
    for raw in text.splitlines():
        if not raw.strip() or _is_table_rule(raw):
            continue
        line = _INLINE_MARK_RE.sub("", _LINE_MARKER_RE.sub("", raw)).replace("|", " ").strip()
        line = _SPACES_RE.sub(" ", line)
        if not line:
            continue
        # Headings and list items carry no full stop; without one textstat glues them to the next sentence.
        if line[-1] not in ".!?:;":
            line += "."
        lines.append(line)
    return "\n".join(lines)


def words_of(text: str) -> list[str]:
    """The text's words, lower-cased: letters and digits, with inner apostrophes and hyphens."""
    return [w.lower() for w in WORD_RE.findall(text)]


def headings_of(markdown: str) -> list[tuple[str, str]]:
    """(hashes, text) of each ATX heading line, in linear time."""
    found = []
    for line in markdown.splitlines():
        start = _HEADING_START_RE.match(line)
        if start:
            text = line[start.end() :].rstrip().rstrip("#").rstrip()
            if text:
                found.append((start.group(1), text))
    return found


def word_count(markdown: str) -> int:
    return len(words_of(plain_text(markdown)))


@cache
def _has_cmudict() -> bool:
    import nltk  # noqa: PLC0415 - heavy (~0.4 s), kept off the web process's import path

    try:
        nltk.data.find("corpora/cmudict")
    except LookupError:
        return False
    return True


def flesch_reading_ease(text: str) -> float:
    import textstat  # noqa: PLC0415 - pulls in nltk (~0.4 s), kept off the web process's import path

    if _has_cmudict():
        return float(textstat.flesch_reading_ease(text))
    # Without NLTK's cmudict textstat tries to download it on every call (network, stderr noise);
    # this is the same formula with textstat's sentence split and its pyphen syllable fallback.
    from pyphen import Pyphen  # noqa: PLC0415 - only without cmudict, like textstat's own fallback

    hyphenator = Pyphen(lang="en_US")
    words = WORD_RE.findall(text)
    syllables = sum(len(hyphenator.positions(word.lower())) + 1 for word in words)
    return 206.835 - 1.015 * float(textstat.words_per_sentence(text)) - 84.6 * syllables / len(words)


def clip(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit + 1]
    head, space, _ = cut.rpartition(" ")
    clipped = head if space and head else text[:limit]
    return clipped.rstrip(" ,;:-–—|/").strip()


def clip_meta_title(text: str) -> str:
    return clip(text, META_TITLE_LIMIT)


def clip_meta_description(text: str) -> str:
    return clip(text, META_DESCRIPTION_LIMIT)
