"""Taking articles out of the tool: one article as Markdown or HTML, a batch as a streamed ZIP.

The ZIP is written by `zipfile` into a sink that hands each finished chunk to the response, so a batch
of 500 articles never sits in memory: only one article's text and the CSV rows (a few hundred bytes each).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

from django.utils.html import escape
from django.utils.text import slugify

from contentgen.safe_html import markdown_html
from jobs.core.selectors import bulk_jobs
from jobs.models import BulkJob, GenerationJob
from jobs.pipeline.seo import report_groups

CSV_COLUMNS = (
    "id", "topic", "title", "meta_description", "word_count", "seo_score", "readability_score", "status",
    "seo_problems", "seo_to_improve",
)  # fmt: skip
# What a spreadsheet may run as a formula at the start of a cell; some readers drop a leading NUL first.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")


def filename(job: GenerationJob, extension: str) -> str:
    title = job.result.meta_title if job.result else job.title
    return f"{slugify(title)[:60] or 'article'}-{job.pk}.{extension}"


def _yaml_string(value: str) -> str:
    """A JSON string is a valid YAML scalar, with every quote and newline escaped."""
    return json.dumps(value, ensure_ascii=False)


def _checks(rows: list[dict[str, Any]], status: str) -> list[str]:
    """The ids of the report's checks with this status, in report order."""
    return [str(row.get("id")) for row in rows if row.get("status") == status]


def article_markdown(job: GenerationJob) -> str:
    """Front matter (title, meta description, keywords, scores, the checks that fail), then the article as
    written."""
    result = job.result
    assert result is not None
    report = result.seo_report or []
    lines = [
        "---",
        f"title: {_yaml_string(result.meta_title)}",
        f"meta_description: {_yaml_string(result.meta_description)}",
        f"keywords: [{', '.join(_yaml_string(k) for k in job.keywords or [])}]",
        f"topic: {_yaml_string(job.topic)}",
        f"word_count: {result.word_count}",
        f"seo_score: {result.seo_score}",
        f"readability_score: {result.readability_score}",
        f"seo_problems: [{', '.join(_yaml_string(i) for i in _checks(report, 'problem'))}]",
        f"seo_to_improve: [{', '.join(_yaml_string(i) for i in _checks(report, 'ok'))}]",
        f"meta_derived: {'true' if result.meta_derived else 'false'}",
        f"id: {_yaml_string(str(job.pk))}",
        "---",
        "",
    ]
    return "\n".join(lines) + result.content.rstrip("\n") + "\n"


def _report_html(result: Any) -> str:
    """The checks to act on, problems first, outside the <article> so that publishing it leaves them out."""
    scores = f"SEO {result.seo_score}/100, readability {result.readability_score:.0f}/100"
    verdicts = [v for group in report_groups(result.seo_report or []) for v in group["verdicts"]]
    items = [
        f'<li class="seo-{escape(v["status"])}">{escape(v["status_label"])}: {escape(v["label"])}. '
        f"{escape(v['message'])}</li>"
        for status in ("problem", "ok")
        for v in verdicts
        if v["status"] == status
    ]
    listed = f"<ul>\n{chr(10).join(items)}\n</ul>" if items else "<p>Every check passed.</p>"
    return f'<aside class="seo-report">\n<h2>SEO report</h2>\n<p>{scores}</p>\n{listed}\n</aside>\n'


def article_html(job: GenerationJob) -> str:
    """A standalone page: escaped head fields, the body through the sanitising Markdown renderer, and after
    the article a short list of the SEO report's checks to act on."""
    result = job.result
    assert result is not None
    keywords = ", ".join(job.keywords or [])
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(result.meta_title)}</title>\n"
        f'<meta name="description" content="{escape(result.meta_description)}">\n'
        f'<meta name="keywords" content="{escape(keywords)}">\n'
        f"</head>\n<body>\n<article>\n{markdown_html(result.content)}\n</article>\n"
        f"{_report_html(result)}</body>\n</html>\n"
    )


def _cell(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula is quoted (topics and titles are untrusted)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_row(job: GenerationJob) -> list[Any]:
    r = job.result
    return [
        _cell(v)
        for v in (
            str(job.pk),
            job.topic or job.title,
            r.meta_title if r else "",
            r.meta_description if r else "",
            r.word_count if r else "",
            r.seo_score if r else "",
            r.readability_score if r else "",
            job.status,
            "; ".join(_checks(r.seo_report or [], "problem")) if r else "",
            "; ".join(_checks(r.seo_report or [], "ok")) if r else "",
        )
    ]


class _Sink(io.RawIOBase):
    """A write-only, non-seekable file: zipfile then writes data descriptors instead of seeking back."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.chunks.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        out, self.chunks = b"".join(self.chunks), []
        return out


READ_CHUNK = 25


def _members(bulk: BulkJob) -> Iterator[GenerationJob]:
    """In order, READ_CHUNK at a time, each read complete in itself: the streaming response may advance
    this generator from a different thread each time, so no database cursor stays open between chunks."""
    pks = list(bulk_jobs(bulk=bulk).values_list("pk", flat=True))
    for start in range(0, len(pks), READ_CHUNK):
        window = pks[start : start + READ_CHUNK]
        found = GenerationJob.objects.in_bulk(window)
        yield from (found[pk] for pk in window if pk in found)


def batch_zip(bulk: BulkJob) -> Iterator[bytes]:
    """The batch's completed articles as Markdown files, and articles.csv with every member."""
    sink = _Sink()
    table = io.StringIO()
    writer = csv.writer(table)
    writer.writerow(CSV_COLUMNS)
    with zipfile.ZipFile(sink, mode="w", compression=zipfile.ZIP_DEFLATED) as archive:
        for number, job in enumerate(_members(bulk), start=1):
            writer.writerow(csv_row(job))
            if job.status == GenerationJob.Status.COMPLETED and job.result is not None:
                archive.writestr(f"{number:03d}-{filename(job, 'md')}", article_markdown(job))
                yield sink.drain()
        archive.writestr("articles.csv", table.getvalue())
    yield sink.drain()


def zip_filename(bulk: BulkJob) -> str:
    return f"batch-{bulk.pk}.zip"
