"""/sources/ in the browser's shoes: adding, refusing, deleting, and hostile text kept as text."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from jobs.models import Source
from jobs.web.fragments import live_fragments
from tests.jobs.sources.test_sources import FACT, ingest_all

pytestmark = pytest.mark.django_db

HOSTILE = "<script>alert('source')</script><img src=x onerror=alert(1)>"


@pytest.fixture
def browser(client, user):
    client.force_login(user)
    return client


def test_the_page_lists_the_users_sources_with_their_state(browser, api):
    api.post("/api/sources/", {"title": "Kiln notes", "text": FACT}, format="json")
    ingest_all()
    html = browser.get("/sources/").content.decode()
    assert "Kiln notes" in html and "Ready" in html and "1 passage" in html
    assert 'data-live-src="/sources/live"' in html


def test_pasting_text_adds_a_queued_source_and_returns_to_the_list(browser, user):
    response = browser.post("/sources/", {"kind": "text", "title": "Pasted", "text": FACT})
    assert response.status_code == 302 and response["Location"] == "/sources/"
    assert Source.objects.get(user=user).status == "queued"


def test_uploading_a_file_adds_it(browser, user):
    upload = SimpleUploadedFile("notes.md", f"# Notes\n\n{FACT}\n".encode(), content_type="text/markdown")
    assert browser.post("/sources/", {"kind": "file", "file": upload}).status_code == 302
    ingest_all()
    source = Source.objects.get(user=user)
    assert (source.kind, source.status, source.title) == ("file", "ready", "Notes")


def test_a_bad_form_answers_400_with_the_fields_message_and_stores_nothing(browser):
    response = browser.post("/sources/", {"kind": "url", "url": "javascript:alert(1)"})
    assert response.status_code == 400
    assert "http or https" in response.content.decode()
    assert Source.objects.count() == 0


def test_hostile_titles_and_text_stay_text_on_the_page_and_in_live_rows(browser, api):
    created = api.post("/api/sources/", {"title": HOSTILE[:180], "text": f"{FACT} {HOSTILE}"}, format="json").json()
    ingest_all()
    html = browser.get("/sources/").content.decode()
    assert "<script>alert" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    data = {"source_id": created["id"], "title": HOSTILE, "kind": "text", "status": "ready", "passages": 1,
            "error": HOSTILE, "progress": {"stage": "ready", "percentage": 100, "message": HOSTILE}}  # fmt: skip
    fragment = live_fragments(view="sources", event="complete", data=data)
    assert "<script" not in fragment and "<img" not in fragment


def test_deleting_from_the_page_removes_the_source(browser, user):
    browser.post("/sources/", {"kind": "text", "title": "Gone soon", "text": FACT})
    source = Source.objects.get(user=user)
    assert browser.post(f"/sources/{source.pk}/delete").status_code == 302
    assert not Source.objects.filter(pk=source.pk).exists()


def test_another_users_source_cannot_be_deleted_from_the_page(browser, other_api):
    created = other_api.post("/api/sources/", {"title": "Theirs", "text": FACT}, format="json").json()
    assert browser.post(f"/sources/{created['id']}/delete").status_code == 404
    assert Source.objects.filter(pk=Source.objects.get(title="Theirs").pk).exists()
