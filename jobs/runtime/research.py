"""What a job's research stage reaches, from the worker: the user's knowledge base (jobs.sources.index),
the configured web search, and pages read through the outbound guard (jobs.sources.fetching)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from jobs.pipeline.extract import ExtractFailed, extract
from jobs.pipeline.research import Found, Hit, Page, ReadFailed
from jobs.sources import fetching, index

logger = logging.getLogger("jobs.research")

PAGE_SECONDS = 20.0


class Research:
    """The pipeline's `Researcher` for one job of one user."""

    def __init__(self, user_id: Any) -> None:
        self.user_id = user_id

    @property
    def searching(self) -> bool:
        return fetching.searching()

    def knowledge(self, query: str, *, limit: int) -> list[Found]:
        hits = index.search(self.user_id, query, limit=limit)
        return [Found(str(hit.source_id), hit.title, hit.text) for hit in hits]

    def search(self, query: str, *, limit: int) -> list[Hit]:
        try:
            return [Hit(r.url, r.title, r.snippet) for r in fetching.search(query, limit=limit)]
        except fetching.FetchFailed as exc:
            logger.warning("web search failed: %s", exc)
            return []

    def read(self, url: str) -> Page:
        try:
            cap = int(settings.CONTENTGEN_SOURCE_MAX_BYTES)
            page = fetching.fetch_page(url, max_bytes=cap, deadline=PAGE_SECONDS)
            extracted = extract(page.body, content_type=page.content_type, filename=url)
        except (fetching.FetchFailed, ExtractFailed) as exc:
            raise ReadFailed(str(exc)) from exc
        return Page(url=page.url, title=extracted.title, text=extracted.text)
