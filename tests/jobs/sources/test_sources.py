"""The knowledge base through its API: adding, listing, reading and deleting sources, ingestion by a worker's
loop (run here, in-process), retrieval, limits and ownership."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from jobs.models import Passage, Source
from jobs.sources import index
from jobs.sources.ingest import SourceLoop
from progress import events
from tests.pdfs import bomb_pdf, text_pdf

pytestmark = pytest.mark.django_db

FACT = "The Zorblat 3000 composter reaches 71 degrees Celsius within 48 hours of loading."
MANUAL = (
    "# Zorblat 3000 manual\n\n"
    f"{FACT} Its drum turns every six hours, and the lid seals against rain.\n\n"
    "## Feeding\n\nAdd three parts brown leaves to one part green kitchen scraps for the best heat. "
    "Chop scraps small so that they break down within days rather than weeks.\n"
)


def ingest_all(owner: str = "test-worker") -> int:
    """Run the ingestion loop's passes until nothing is left; returns how many passes worked."""
    loop = SourceLoop(owner)
    for worked in range(50):
        if not loop.pass_once():
            return worked
    raise AssertionError("the ingestion loop still had work after 50 passes")


def add_text(api, title: str = "Zorblat manual", text: str = MANUAL) -> dict:
    response = api.post("/api/sources/", {"title": title, "text": text}, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def test_pasted_text_is_queued_then_indexed_by_a_worker(api, user):
    created = add_text(api)
    assert (created["kind"], created["status"], created["passages"], created["error"]) == ("text", "queued", 0, None)
    assert ingest_all() >= 1
    ready = api.get(f"/api/sources/{created['id']}/").json()
    assert ready["status"] == "ready" and ready["passages"] >= 1
    hits = index.search(user.pk, "how hot does the Zorblat composter get", limit=3)
    assert hits and FACT in hits[0].text and str(hits[0].source_id) == created["id"]


def test_ingestion_streams_its_steps_and_ends_with_complete(api):
    created = add_text(api)
    ingest_all()
    log = events.after(Source.objects.get(pk=created["id"]).pk, 0)
    stages = [e["data"]["progress"]["stage"] for e in log]
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert stages[0] == "queued" and "extracting" in stages and "indexing" in stages
    assert log[-1]["type"] == "complete" and log[-1]["data"]["status"] == "ready"
    percentages = [e["data"]["progress"]["percentage"] for e in log]
    assert percentages == sorted(percentages) and len(set(percentages)) >= 4


def test_a_pdf_upload_is_indexed_with_its_pages(api, user):
    pages = [["Chapter one is about soil."], [FACT, "Turn the drum daily."]]
    upload = SimpleUploadedFile("manual.pdf", text_pdf(pages), content_type="application/pdf")
    created = api.post("/api/sources/", {"file": upload, "title": "PDF manual"}, format="multipart").json()
    ingest_all()
    assert api.get(f"/api/sources/{created['id']}/").json()["status"] == "ready"
    [hit] = index.search(user.pk, "Zorblat 71 degrees", limit=1)
    assert FACT in hit.text and hit.page == 2


def test_a_pdf_bomb_fails_with_a_message_and_stores_no_passage(api):
    upload = SimpleUploadedFile("bomb.pdf", bomb_pdf(), content_type="application/pdf")
    created = api.post("/api/sources/", {"file": upload}, format="multipart").json()
    ingest_all()
    failed = api.get(f"/api/sources/{created['id']}/").json()
    assert failed["status"] == "failed" and "limit" in failed["error"]
    assert not Passage.objects.filter(source_id=Source.objects.get(pk=created["id"]).pk).exists()


def test_a_locked_pdf_fails_saying_it_is_password_protected(api):
    upload = SimpleUploadedFile("locked.pdf", text_pdf([["secret"]], password="pw"), content_type="application/pdf")
    created = api.post("/api/sources/", {"file": upload}, format="multipart").json()
    ingest_all()
    assert "password protected" in api.get(f"/api/sources/{created['id']}/").json()["error"]


def test_html_without_text_fails_and_script_never_becomes_a_passage(api, user):
    page = b"<html><head><script>alert('x')</script></head><body><script>steal()</script></body></html>"
    upload = SimpleUploadedFile("empty.html", page, content_type="text/html")
    created = api.post("/api/sources/", {"file": upload}, format="multipart").json()
    ingest_all()
    failed = api.get(f"/api/sources/{created['id']}/").json()
    assert failed["status"] == "failed" and "no text" in failed["error"]
    assert not Passage.objects.filter(user=user).exists()


@override_settings(CONTENTGEN_SOURCE_MAX_BYTES=1000)
def test_a_file_over_the_size_limit_is_refused_with_413_and_nothing_stored(api):
    upload = SimpleUploadedFile("big.txt", b"word " * 400, content_type="text/plain")
    response = api.post("/api/sources/", {"file": upload}, format="multipart")
    assert response.status_code == 413
    assert "file" in response.json() and "at most" in response.json()["file"][0]
    assert Source.objects.count() == 0


@override_settings(CONTENTGEN_KB_MAX_PASSAGES=1)
def test_a_knowledge_base_at_its_passage_limit_refuses_more(api):
    add_text(api, text=FACT)
    ingest_all()
    assert Passage.objects.count() == 1
    response = api.post("/api/sources/", {"title": "More", "text": "Another fact worth keeping here."}, format="json")
    assert response.status_code == 400 and "CONTENTGEN_KB_MAX_PASSAGES" in response.json()["detail"]
    assert Source.objects.count() == 1


@override_settings(CONTENTGEN_RATE_JOBS_PER_MINUTE=2)
def test_adding_sources_is_rate_limited_like_jobs(api):
    add_text(api, "One")
    add_text(api, "Two")
    response = api.post("/api/sources/", {"title": "Three", "text": MANUAL}, format="json")
    assert response.status_code == 429 and response.has_header("Retry-After")
    assert Source.objects.count() == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "text": "Some text here."}, "title"),
        ({"title": "T", "text": "   "}, "text"),
        ({"url": "ftp://example.com/file"}, "url"),
        ({"url": "https://example.com", "text": "both"}, "non_field_errors"),
        ({"title": "T", "text": "x", "colour": "blue"}, "non_field_errors"),
        ({"title": "bad\x1btitle", "text": "Some text."}, "title"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api, body, field):
    response = api.post("/api/sources/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert Source.objects.count() == 0


def test_a_form_that_repeats_a_field_is_a_400_naming_it_and_stores_nothing(api):
    upload = SimpleUploadedFile("notes.txt", b"Worms eat scraps.", content_type="text/plain")
    response = api.post("/api/sources/", {"file": upload, "title": ["One", "Two"]}, format="multipart")
    assert response.status_code == 400 and "title" in response.json(), response.json()
    assert Source.objects.count() == 0


def test_another_users_source_answers_like_a_missing_one(api, other_api):
    created = add_text(api)
    assert other_api.get(f"/api/sources/{created['id']}/").status_code == 404
    assert other_api.delete(f"/api/sources/{created['id']}/").status_code == 404
    assert other_api.get("/api/sources/").json()["count"] == 0


def test_another_users_knowledge_base_is_never_searched(api, user, other_user):
    add_text(api)
    ingest_all()
    assert index.search(other_user.pk, "Zorblat composter", limit=5) == []
    assert index.search(user.pk, "Zorblat composter", limit=5)


def test_deleting_a_source_removes_its_passages_and_its_hits(api, user):
    created = add_text(api)
    ingest_all()
    assert api.delete(f"/api/sources/{created['id']}/").status_code == 204
    assert api.get(f"/api/sources/{created['id']}/").status_code == 404
    assert not Passage.objects.filter(user=user).exists()
    ingest_all()  # the index is rebuilt by a worker
    assert index.search(user.pk, "Zorblat composter", limit=5) == []


def test_the_list_is_paginated_newest_first(api):
    for n in range(3):
        add_text(api, f"Source {n}")
    page = api.get("/api/sources/?page_size=2").json()
    assert page["count"] == 3 and [s["title"] for s in page["results"]] == ["Source 2", "Source 1"]
    assert page["next"]
