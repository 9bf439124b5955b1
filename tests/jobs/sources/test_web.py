"""Research on the web, against a loopback stand-in: a SearxNG-format search and pages on 127.0.0.1. With
CONTENTGEN_SEARCH_URL and CONTENTGEN_FETCH_ALLOW_PRIVATE=1 an article cites a page; without them nothing is
fetched; pages that redirect to a private address or outgrow the cap are read as nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import override_settings

from jobs.models import GenerationJob, Source
from progress import events
from tests.jobs.sources.test_research import write
from tests.jobs.sources.test_sources import ingest_all

pytestmark = pytest.mark.django_db

WEB_FACT = "The Zorblat 3000 drum holds 160 litres and turns on a 40 watt motor."
PAGE = f"""<!doctype html><html><head><title>Zorblat review</title></head><body>
<nav>Home | Reviews | Contact</nav>
<article><h1>Zorblat review</h1>
<p>{WEB_FACT} We tested it for a whole season on a windy allotment with mixed garden waste.</p>
<p>The composter kept its heat through two cold weeks, and the lid stayed shut in every storm.</p>
<script>document.title = "pwned"</script>
</article></body></html>"""


class StandIn:
    """The web, on loopback: `/search` answers SearxNG's JSON, `/page` a review, `/metadata` redirects to the
    cloud metadata address, `/huge` is bigger than any cap. Every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.base = ""
        self.results: Callable[[], list[dict[str, str]]] = lambda: [
            {"url": f"{self.base}/page", "title": "Zorblat review", "content": "A season with the Zorblat 3000."}
        ]

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        self.requests.append(request.path)
        path = urlsplit(request.path).path
        if path == "/search":
            query = parse_qs(urlsplit(request.path).query)
            assert query["format"] == ["json"] and query["q"][0]
            self.reply(request, 200, json.dumps({"results": self.results()}).encode(), "application/json")
        elif path == "/page":
            self.reply(request, 200, PAGE.encode(), "text/html; charset=utf-8")
        elif path == "/metadata":
            request.send_response(302)
            request.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            request.send_header("Content-Length", "0")
            request.end_headers()
        elif path == "/huge":
            self.reply(request, 200, b"<p>" + b"compost " * 40_000 + b"</p>", "text/html")
        else:
            self.reply(request, 404, b"", "text/plain")

    @staticmethod
    def reply(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)


@pytest.fixture
def web() -> Iterator[StandIn]:
    stand_in = StandIn()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            stand_in.handle(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stand_in.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def searching(web: StandIn) -> Iterator[StandIn]:
    with override_settings(CONTENTGEN_SEARCH_URL=f"{web.base}/search", CONTENTGEN_FETCH_ALLOW_PRIVATE=True):
        yield web


def research_messages(job: GenerationJob) -> list[str]:
    return [
        e["data"]["progress"]["message"] for e in events.after(job.pk, 0)
        if (e["data"].get("progress") or {}).get("stage") == "research"
    ]  # fmt: skip


def test_an_article_cites_the_page_the_search_found(api, searching):
    job = write(api)
    assert job.status == "completed" and job.use_web is True
    page = f"{searching.base}/page"
    assert job.result.sources == [{"n": 1, "title": "Zorblat review", "url": page, "source_id": None}]
    assert f"{WEB_FACT} [1]" in job.result.content
    assert "pwned" not in job.result.content and "<script" not in job.result.content
    assert "Reading source 1 of 1: Zorblat review" in research_messages(job)
    assert [urlsplit(p).path for p in searching.requests] == ["/search", "/page"]


def test_a_jobs_own_source_urls_are_read_first(api, searching):
    searching.results = list  # the search finds nothing: the article's page is the job's own
    job = write(api, source_urls=[f"{searching.base}/page"])
    assert [s["url"] for s in job.result.sources] == [f"{searching.base}/page"]
    assert f"{WEB_FACT} [1]" in job.result.content


def test_without_the_search_service_and_private_fetching_nothing_is_fetched(api, web):
    job = write(api, use_web=True, source_urls=[f"{web.base}/page"])
    assert job.status == "completed" and job.result.sources == [] and WEB_FACT not in job.result.content
    assert web.requests == [], "a loopback page was fetched without CONTENTGEN_FETCH_ALLOW_PRIVATE"
    assert any("No web search is configured" in m for m in research_messages(job))


def test_a_page_redirecting_to_the_metadata_address_is_refused_even_when_private_is_allowed(api, searching):
    searching.results = lambda: [{"url": f"{searching.base}/metadata", "title": "Trap", "content": ""}]
    job = write(api)
    assert job.status == "completed" and job.result.sources == []
    assert "/metadata" in " ".join(searching.requests)


def test_a_page_over_the_size_cap_is_read_as_nothing(api, searching):
    searching.results = lambda: [{"url": f"{searching.base}/huge", "title": "Huge", "content": ""}]
    with override_settings(CONTENTGEN_SOURCE_MAX_BYTES=64 * 1024):
        job = write(api)
    assert job.status == "completed" and job.result.sources == []


def test_a_url_source_on_loopback_fails_without_private_fetching_and_nothing_is_sent(api, web):
    response = api.post("/api/sources/", {"url": f"{web.base}/page"}, format="json")
    assert response.status_code == 201, response.json()
    ingest_all()
    source = Source.objects.get(pk=response.json()["id"])
    assert source.status == "failed" and "private address" in source.error
    assert web.requests == []


def test_a_url_source_is_fetched_and_indexed_with_private_fetching(api, searching):
    response = api.post("/api/sources/", {"url": f"{searching.base}/page"}, format="json")
    ingest_all()
    source = Source.objects.get(pk=response.json()["id"])
    assert source.status == "ready" and source.title == "Zorblat review" and source.passages >= 1
