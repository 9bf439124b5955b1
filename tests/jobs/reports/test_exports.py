"""Exports: an article as Markdown and HTML, a batch as a streamed ZIP; another user's are missing."""

from __future__ import annotations

import asyncio
import csv
import io
import zipfile

import pytest
import yaml
from bson import ObjectId

from jobs.models import BulkJob, GenerationJob, JobError, Result
from jobs.reports.exports import csv_row
from tests.factories import token_for
from tests.stack import asgi_get

pytestmark = pytest.mark.django_db

ITEM = {"mode": "topic", "topic": "Worm bins", "keywords": ["compost", 'say "hi"'], "word_count": 300}
CONTENT = (
    "# Worm bins\n\nIntro <script>alert(1)</script> text.\n\n"
    "[click](javascript:alert(1)) and [fine](https://example.com)\n"
)
REPORT = [
    {"id": "keyphrase_density", "group": "seo", "status": "problem", "score": 0, "message": "Cut it <b>now</b>."},
    {"id": "text_length", "group": "seo", "status": "ok", "score": 6, "message": "Add about 90 words."},
    {"id": "single_h1", "group": "seo", "status": "good", "score": 9, "message": "One H1."},
    {"id": "passive_voice", "group": "readability", "status": "problem", "score": 3, "message": "Fewer passives."},
]


def finish(pk: ObjectId, *, title: str = 'Worm bins: "the" guide\nline two', content: str = CONTENT) -> None:
    GenerationJob.objects.filter(pk=pk).update(
        status="completed",
        result=Result(
            content=content,
            meta_title=title,
            meta_description="Start a <b>worm</b> bin & keep it happy.",
            word_count=321,
            seo_score=77,
            readability_score=64.5,
            seo_report=REPORT,
        ),
    )


def new_job(api, **fields) -> ObjectId:
    return ObjectId(api.post("/api/jobs/", {**ITEM, **fields}, format="json").json()["id"])


def front_matter(text: str) -> tuple[dict, str]:
    assert text.startswith("---\n")
    head, _, body = text[4:].partition("\n---\n")
    return yaml.safe_load(head), body


def test_markdown_export_has_front_matter_and_the_article(api):
    pk = new_job(api)
    finish(pk)
    response = api.get(f"/api/jobs/{pk}/article.md")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/markdown")
    assert response["Content-Disposition"].startswith("attachment; filename=")
    meta, body = front_matter(response.content.decode())
    assert meta == {
        "title": 'Worm bins: "the" guide\nline two',
        "meta_description": "Start a <b>worm</b> bin & keep it happy.",
        "keywords": ["compost", 'say "hi"'],
        "topic": "Worm bins",
        "word_count": 321,
        "seo_score": 77,
        "readability_score": 64.5,
        "seo_problems": ["keyphrase_density", "passive_voice"],
        "seo_to_improve": ["text_length"],
        "meta_derived": False,
        "id": str(pk),
    }
    assert body.lstrip("\n") == CONTENT


def test_html_export_is_sanitised(api):
    pk = new_job(api)
    finish(pk, title="</title><script>x()</script>")
    response = api.get(f"/api/jobs/{pk}/article.html")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<script" not in html and "javascript:" not in html
    assert "&lt;/title&gt;&lt;script&gt;" in html
    assert 'href="https://example.com"' in html and "<h1>Worm bins</h1>" in html
    assert "default-src 'none'" in response["Content-Security-Policy"]


def test_html_export_lists_the_checks_to_act_on_after_the_article(api):
    pk = new_job(api)
    finish(pk)
    html = api.get(f"/api/jobs/{pk}/article.html").content.decode()
    aside = html[html.index("</article>") :]
    assert "<p>SEO 77/100, readability 64/100</p>" in aside
    items = [aside.index(text) for text in ("Problem: Keyphrase density.", "Problem: Passive voice.", "Improve: Text length.")]
    assert items == sorted(items)
    assert "One H1." not in html and "Cut it &lt;b&gt;now&lt;/b&gt;." in aside


def test_an_unfinished_article_answers_409(api):
    pk = new_job(api)
    response = api.get(f"/api/jobs/{pk}/article.md")
    assert response.status_code == 409 and "queued" in response.json()["detail"]


def collect(response) -> bytes:
    async def read() -> list[bytes]:
        return [chunk async for chunk in response.streaming_content]

    chunks = asyncio.run(read())
    assert len(chunks) > 2, "the ZIP should arrive in pieces, one per article"
    return b"".join(chunks)


def make_batch(api) -> BulkJob:
    items = [ITEM, {**ITEM, "topic": '=HYPERLINK("http://x")'}, {**ITEM, "topic": "Failed one"}]
    bulk = BulkJob.objects.get(
        pk=ObjectId(api.post("/api/bulk-jobs/", {"items": items}, format="json").json()["id"])
    )
    first, second, third = GenerationJob.objects.filter(bulk_job=bulk).order_by("created_at")
    finish(first.pk, title="First")
    finish(second.pk, title="Second")
    GenerationJob.objects.filter(pk=third.pk).update(
        status="failed", error=JobError(message="boom", stage="seo")
    )
    return bulk


def test_batch_zip_holds_the_completed_articles_and_a_csv_of_every_member(api):
    bulk = make_batch(api)
    response = api.get(f"/api/bulk-jobs/{bulk.pk}/articles.zip")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(collect(response)))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names[-1] == "articles.csv" and len(names) == 3
    assert names[0].startswith("001-first-") and names[1].startswith("002-second-")
    meta, body = front_matter(archive.read(names[0]).decode())
    assert meta["title"] == "First" and body.lstrip("\n") == CONTENT
    rows = list(csv.DictReader(io.StringIO(archive.read("articles.csv").decode())))
    assert [row["status"] for row in rows] == ["completed", "completed", "failed"]
    assert rows[0]["title"] == "First" and rows[0]["word_count"] == "321" and rows[0]["seo_score"] == "77"
    assert rows[1]["topic"].startswith("'=HYPERLINK")
    assert rows[2]["title"] == "" and rows[2]["topic"] == "Failed one"
    assert list(rows[0]) == [
        "id", "topic", "title", "meta_description", "word_count", "seo_score", "readability_score", "status",
        "seo_problems", "seo_to_improve",
    ]  # fmt: skip
    assert rows[0]["seo_problems"] == "keyphrase_density; passive_voice" and rows[0]["seo_to_improve"] == "text_length"
    assert rows[2]["seo_problems"] == ""


def test_exports_of_someone_elses_work_look_missing(api, other_api, other_user, client):
    pk = new_job(api)
    finish(pk)
    bulk = make_batch(api)
    for url in (
        f"/api/jobs/{pk}/article.md",
        f"/api/jobs/{pk}/article.html",
        f"/api/bulk-jobs/{bulk.pk}/articles.zip",
    ):
        assert other_api.get(url).status_code == 404
    client.force_login(other_user)
    for url in (f"/jobs/{pk}/article.md", f"/jobs/{pk}/article.html", f"/bulk/{bulk.pk}/articles.zip"):
        assert client.get(url).status_code == 404


def test_the_pages_link_to_the_downloads(api, user, client):
    pk = new_job(api)
    finish(pk)
    bulk = make_batch(api)
    client.force_login(user)
    page = client.get(f"/jobs/{pk}/").content.decode()
    assert f'href="/jobs/{pk}/article.md"' in page and f'href="/jobs/{pk}/article.html"' in page
    assert client.get(f"/jobs/{pk}/article.md").status_code == 200
    assert f'href="/bulk/{bulk.pk}/articles.zip"' in client.get(f"/bulk/{bulk.pk}/").content.decode()


def test_the_asgi_application_streams_the_batch_zip(api, user):
    bulk = make_batch(api)
    response = asgi_get(
        f"/api/bulk-jobs/{bulk.pk}/articles.zip", {"Authorization": f"Token {token_for(user)}"}
    )
    assert response.status_code == 200
    assert "content-length" not in response.headers  # streamed as it is built, its size unknown up front
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert len(archive.namelist()) == 3 and archive.testzip() is None


FORMULA_STARTS = {"equals": "=", "plus": "+", "minus": "-", "at": "@", "tab": "\t", "cr": "\r", "nul": "\x00"}


@pytest.mark.parametrize("start", FORMULA_STARTS.values(), ids=FORMULA_STARTS.keys())
def test_a_cell_that_a_spreadsheet_could_run_is_quoted(user, start):
    """Topics and titles are untrusted; a spreadsheet runs a cell starting with these (some readers drop a
    leading NUL first), so the CSV quotes it with an apostrophe and keeps the rest as it was."""
    text = f'{start}HYPERLINK("http://evil.example","x")'
    job = GenerationJob(
        user=user, mode="topic", topic=text, status="completed", result=Result(meta_title=text, word_count=1)
    )
    row = csv_row(job)
    assert row[1] == row[2] == "'" + text
    table = io.StringIO()
    csv.writer(table).writerow(row)
    assert next(csv.reader(io.StringIO(table.getvalue())))[1:3] == ["'" + text] * 2


def test_plain_cells_are_left_alone(user):
    job = GenerationJob(user=user, mode="topic", topic="Rain gardens", status="completed", result=Result(meta_title="A -1 guide"))
    assert csv_row(job)[1:3] == ["Rain gardens", "A -1 guide"]
