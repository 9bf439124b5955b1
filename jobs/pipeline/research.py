"""The research stage's gathering, before its brief: the user's knowledge base, a web search, and the pages
worth reading, turned into the article's numbered sources (`Material`).

The order is fixed: retrieve from the knowledge base, search the web, read the top pages (the job's own
`source_urls` first), and only then write the brief. Each step moves the stage's bar and names itself in the
message. What reaches a model from here is quoted data (jobs.pipeline.grounding), trimmed to a word budget
that fits the model's context.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from . import bm25
from .contracts import JobInput, Material
from .grounding import looks_like_instruction, sentences
from .offline_text import subject_for
from .passages import split

KNOWLEDGE_PASSAGES = 8
KNOWLEDGE_SOURCES = 4
PASSAGES_PER_SOURCE = 2
WEB_RESULTS = 3
MAX_PAGES = 6
# The share of the research stage's bar that gathering takes; the brief takes the rest.
GATHER_SHARE = 50.0


@dataclass(frozen=True)
class Found:
    """A passage of the user's knowledge base, as retrieval ranks it."""

    source_id: str
    title: str
    text: str


@dataclass(frozen=True)
class Hit:
    url: str
    title: str
    snippet: str = ""


@dataclass(frozen=True)
class Page:
    url: str
    title: str
    text: str


class ReadFailed(Exception):
    """A page that could not be read: refused by the address guard, too big, too slow, or empty."""


class Researcher(Protocol):
    """What the research stage may reach (jobs.runtime.research gives the real one)."""

    @property
    def searching(self) -> bool: ...

    def knowledge(self, query: str, *, limit: int) -> list[Found]: ...

    def search(self, query: str, *, limit: int) -> list[Hit]: ...

    def read(self, url: str) -> Page: ...


Step = Callable[[float, str], None]


def wanted(job: JobInput) -> bool:
    return job.mode != "spin" and bool(job.use_knowledge_base or job.use_web or job.source_urls)


def query_of(job: JobInput) -> str:
    subject = subject_for(job)
    return " ".join(dict.fromkeys([subject.topic, *subject.keywords]))


def _trim(passages: Sequence[str], budget: int) -> tuple[list[str], int]:
    kept, used = [], 0
    for passage in passages:
        words = passage.split()
        if used >= budget:
            break
        kept.append(" ".join(words[: budget - used]))
        used += min(len(words), budget - used)
    return kept, used


def _clean(text: str) -> str:
    """A passage without the sentences that read like instructions to a model."""
    return " ".join(s for s in sentences(text) if not looks_like_instruction(s))


def _host(url: str) -> str:
    return urlsplit(url).hostname or url


def gather(job: JobInput, researcher: Researcher, step: Step, *, budget_words: int) -> tuple[Material, ...]:
    """The job's numbered sources: knowledge-base sources first, then pages. `step(progress, message)` is
    called before each step with the gathering's own progress (0-100)."""
    query = query_of(job)
    grouped: dict[str, tuple[str, list[str]]] = {}
    if job.use_knowledge_base:
        step(5.0, "Searching your knowledge base")
        for found in researcher.knowledge(query, limit=KNOWLEDGE_PASSAGES):
            title, passages = grouped.setdefault(found.source_id, (found.title, []))
            if len(grouped) <= KNOWLEDGE_SOURCES and len(passages) < PASSAGES_PER_SOURCE:
                passages.append(found.text)
        grouped = dict(list(grouped.items())[:KNOWLEDGE_SOURCES])
    urls = list(dict.fromkeys(job.source_urls))
    titles: dict[str, str] = {}
    if job.use_web:
        if researcher.searching:
            step(15.0, f"Searching the web for '{query[:80]}'")
            for hit in researcher.search(query, limit=WEB_RESULTS):
                if hit.url not in urls:
                    urls.append(hit.url)
                    titles[hit.url] = hit.title
        else:
            step(15.0, "No web search is configured (CONTENTGEN_SEARCH_URL): researching without the web")
    urls = urls[:MAX_PAGES]
    pages: list[tuple[str, str, list[str]]] = []
    for index, url in enumerate(urls, start=1):
        label = (titles.get(url) or _host(url))[:80]
        step(20.0 + 75.0 * (index - 1) / len(urls), f"Reading source {index} of {len(urls)}: {label}")
        try:
            page = researcher.read(url)
        except ReadFailed:
            continue
        chunks = [p.text for p in split(page.text)]
        best = [chunks[i] for i, _ in bm25.rank(query, chunks, PASSAGES_PER_SOURCE)] or chunks[:1]
        if best:
            pages.append((page.url, page.title or label, best))
    materials: list[Material] = []
    per_source = max(40, budget_words // max(1, len(grouped) + len(pages)))
    for source_id, (title, passages) in grouped.items():
        kept, _ = _trim([_clean(p) for p in passages], per_source)
        materials.append(Material(len(materials) + 1, title, None, source_id, tuple(kept)))
    for url, title, passages in pages:
        kept, _ = _trim([_clean(p) for p in passages], per_source)
        materials.append(Material(len(materials) + 1, title, url, None, tuple(kept)))
    count = len(materials)
    step(100.0, f"Gathered {count} source{'' if count == 1 else 's'}; writing the brief" if count else
         "No sources found; writing the brief from the topic alone")  # fmt: skip
    return tuple(materials)


def materials_json(materials: Sequence[Material]) -> list[dict[str, object]]:
    return [{**m.as_dict(), "passages": list(m.passages)} for m in materials]


def materials_from(data: object) -> tuple[Material, ...]:
    """Materials as a stored research stage keeps them (for a resumed job), tolerant of a bad entry."""
    out = []
    for entry in data if isinstance(data, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("n"), int):
            url, sid = entry.get("url"), entry.get("source_id")
            out.append(
                Material(
                    n=entry["n"],
                    title=str(entry.get("title") or ""),
                    url=str(url) if url else None,
                    source_id=str(sid) if sid else None,
                    passages=tuple(str(p) for p in entry.get("passages") or []),
                )
            )
    return tuple(out)
