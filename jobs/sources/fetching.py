"""The web, as research and URL sources reach it: pages through the outbound guard (contentgen.outbound:
public addresses only, every redirect checked, a size and a time cap), and a SearxNG-compatible search.

`CONTENTGEN_SEARCH_URL` is the operator's own service, often on a private network, so the search request
itself may go there; the pages it lists are fetched like any other page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from contentgen import outbound

PAGE_SECONDS = 20.0
SEARCH_SECONDS = 10.0
SEARCH_MAX_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 5
READABLE = ("text/html", "application/xhtml+xml", "text/plain", "text/markdown", "application/pdf")
HEADERS = {"Accept": "text/html, application/xhtml+xml, text/plain, text/markdown, application/pdf;q=0.9"}


class FetchFailed(Exception):
    """A page or a search that could not be read, with a message for the person who asked."""


@dataclass(frozen=True)
class FetchedPage:
    url: str
    content_type: str
    body: bytes


@dataclass(frozen=True)
class SearchResult:
    url: str
    title: str
    snippet: str


def _get(url: str, *, max_bytes: int, deadline: float, allow_private: bool) -> Any:
    try:
        return outbound.fetch(
            url,
            headers=HEADERS,
            deadline=deadline,
            max_bytes=max_bytes,
            follow_redirects=MAX_REDIRECTS,
            allow_private=allow_private,
        )
    except outbound.OutboundError as exc:
        raise FetchFailed(str(exc)) from exc


def fetch_page(url: str, *, max_bytes: int, deadline: float = PAGE_SECONDS) -> FetchedPage:
    allow = bool(settings.CONTENTGEN_FETCH_ALLOW_PRIVATE)
    fetched = _get(url, max_bytes=max_bytes, deadline=deadline, allow_private=allow)
    if fetched.status >= 400:
        raise FetchFailed(f"{urlsplit(url).hostname} answered HTTP {fetched.status}.")
    content_type = str(fetched.headers.get("content-type", "")).split(";")[0].strip().lower()
    if content_type and content_type not in READABLE and not fetched.body[:5] == b"%PDF-":
        raise FetchFailed(f"The page is {content_type[:60]}, not HTML, text, Markdown or PDF.")
    return FetchedPage(url=str(fetched.url), content_type=content_type, body=fetched.body)


def searching() -> bool:
    return bool(settings.CONTENTGEN_SEARCH_URL)


def search(query: str, *, limit: int) -> list[SearchResult]:
    """The first `limit` http(s) results of the configured search for `query` (SearxNG's JSON format)."""
    base = str(settings.CONTENTGEN_SEARCH_URL)
    if not base:
        return []
    url = f"{base}{'&' if '?' in base else '?'}{urlencode({'q': query, 'format': 'json'})}"
    fetched = _get(url, max_bytes=SEARCH_MAX_BYTES, deadline=SEARCH_SECONDS, allow_private=True)
    if fetched.status >= 400:
        raise FetchFailed(f"The search service answered HTTP {fetched.status} (CONTENTGEN_SEARCH_URL).")
    try:
        results = json.loads(fetched.body).get("results") or []
    except (ValueError, AttributeError) as exc:
        raise FetchFailed("The search service did not answer with SearxNG's JSON (format=json).") from exc
    out = []
    for entry in results if isinstance(results, list) else []:
        link = entry.get("url") if isinstance(entry, dict) else None
        if isinstance(link, str) and urlsplit(link).scheme in ("http", "https"):
            title, snippet = str(entry.get("title") or "")[:200], str(entry.get("content") or "")[:500]
            out.append(SearchResult(link, title, snippet))
        if len(out) == limit:
            break
    return out
