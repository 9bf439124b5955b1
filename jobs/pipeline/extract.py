"""Text out of a source's bytes: PDF (pypdf), HTML (trafilatura, boilerplate removed), Markdown or plain text.

Every input is hostile until proven otherwise. A PDF is read in a child process with a memory cap and a
deadline, because a file of a few kilobytes can make one page's extraction run for seconds or inflate to
gigabytes, and a parser's native crash must not take the worker with it; pypdf's own limits (decompressed
stream size, page tree, parsing work) stop most bombs early and the kill stops the rest. HTML is parsed
from the bytes only: nothing here ever fetches a URL.
"""

from __future__ import annotations

import contextlib
import io
import logging
import multiprocessing
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

MAX_PAGES = 500
PDF_SECONDS = 120.0
PDF_MEMORY_BYTES = 1536 * 1024 * 1024
# pypdf's limits, far under its defaults: a page or a stream that needs more is hostile, not a document.
PDF_LIMITS: dict[str, Any] = {
    "zlib_maximum_output_length": 20_000_000,
    "maximum_declared_stream_length": 20_000_000,
    "stream_parsing_work_maximum_count": 200_000,
    "page_tree_maximum_entries": MAX_PAGES + 1,
}
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}[ \t]+(.+?)\s*#*\s*$", re.MULTILINE)


class ExtractFailed(Exception):
    """The source holds no text we can index; the message says why, for the person who added it."""


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str
    page_starts: list[int] = field(default_factory=list)


def kind_of(data: bytes, *, content_type: str = "", filename: str = "") -> str:
    """`pdf`, `html` or `text`, from the bytes first (a file's name and type are the sender's claims)."""
    head = data[:1024].lstrip().lower()
    name, ctype = filename.lower(), content_type.lower()
    if head.startswith(b"%pdf-"):
        return "pdf"
    if head.startswith((b"<!doctype html", b"<html")) or "html" in ctype or name.endswith((".html", ".htm")):
        return "html"
    if "pdf" in ctype or name.endswith(".pdf"):
        return "pdf"
    return "text"


def clean(text: str) -> str:
    return _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _title(text: str, fallback: str) -> str:
    heading = _HEADING_RE.search(text)
    if heading:
        return heading.group(1)[:200]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return (first[:120] or fallback)[:200]


def extract(
    data: bytes, *, content_type: str = "", filename: str = "", fallback_title: str = ""
) -> Extracted:
    kind = kind_of(data, content_type=content_type, filename=filename)
    if kind == "pdf":
        return _pdf(data, fallback_title or filename)
    if kind == "html":
        return _html(data, fallback_title or filename)
    try:
        text = clean(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ExtractFailed("The file is not UTF-8 text, Markdown, HTML or PDF.") from exc
    if not text.strip():
        raise ExtractFailed("The file has no text to index.")
    return Extracted(title=_title(text, fallback_title or filename), text=text)


def _html(data: bytes, fallback: str) -> Extracted:
    import trafilatura  # noqa: PLC0415 - heavy (lxml and friends); only workers extract

    html = data.decode("utf-8", errors="replace")
    document = trafilatura.bare_extraction(
        html, with_metadata=True, fast=True, output_format="markdown", include_comments=False
    )
    text = (getattr(document, "text", None) or "") if document is not None else ""
    title = (getattr(document, "title", None) or "") if document is not None else ""
    if not text.strip():
        # trafilatura keeps nothing under a minimum size: a short page's plain text, scripts left out.
        text = trafilatura.html2txt(html) or ""
    text = clean(text)
    if not text.strip():
        raise ExtractFailed("The page has no text to index (only markup, scripts or images).")
    return Extracted(title=clean(title).strip()[:200] or _title(text, fallback), text=text)


def _pdf(data: bytes, fallback: str) -> Extracted:
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_pdf_child, args=(data, child), name="contentgen-pdf", daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(PDF_SECONDS):
            raise ExtractFailed(
                f"Reading the PDF took longer than {PDF_SECONDS:.0f} s; it may be damaged or built to "
                "exhaust readers. Export it again, or paste its text."
            )
        try:
            outcome: dict[str, Any] = parent.recv()
        except EOFError as exc:
            raise ExtractFailed(
                "Reading the PDF used more memory than allowed or crashed the reader; it may be damaged."
            ) from exc
    finally:
        parent.close()
        if process.is_alive():
            process.kill()
        process.join(5)
    if "error" in outcome:
        raise ExtractFailed(outcome["error"])
    pages: list[str] = [clean(page) for page in outcome["pages"]]
    text, starts = "", []
    for page in pages:
        starts.append(len(text))
        text += page.strip() + "\n\n"
    if not text.strip():
        raise ExtractFailed("The PDF has no text layer to index (scanned pages need OCR first).")
    return Extracted(title=clean(outcome.get("title") or "")[:200] or _title(text, fallback), text=text,
                     page_starts=starts)  # fmt: skip


def _pdf_child(data: bytes, conn: Any) -> None:
    """In the child: cap memory, read at most MAX_PAGES pages, send {"pages", "title"} or {"error"}."""
    logging.disable(logging.CRITICAL)  # pypdf's warnings about a damaged file are the message's business
    warnings.simplefilter("ignore")
    with contextlib.suppress(ImportError, ValueError, OSError):
        import resource  # noqa: PLC0415 - POSIX only

        resource.setrlimit(resource.RLIMIT_AS, (PDF_MEMORY_BYTES, PDF_MEMORY_BYTES))
    try:
        conn.send(_read_pdf(data))
    except MemoryError:
        conn.send({"error": "Reading the PDF used more memory than allowed; it may be damaged."})
    finally:
        conn.close()


def _read_pdf(data: bytes) -> dict[str, Any]:
    from pypdf import PdfReader, apply_configuration  # noqa: PLC0415 - in the child process only
    from pypdf.errors import FileNotDecryptedError, LimitReachedError, PyPdfError  # noqa: PLC0415

    # What a damaged file raises besides pypdf's own errors (a recursion, a missing key, a bad number).
    _DAMAGED = (PyPdfError, RecursionError, ValueError, KeyError, TypeError, AttributeError, ArithmeticError)

    with apply_configuration(None, **PDF_LIMITS):
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                return {"error": "The PDF is password protected: remove the password and upload it again."}
            count = len(reader.pages)
        except FileNotDecryptedError:
            return {"error": "The PDF is password protected: remove the password and upload it again."}
        except LimitReachedError:
            return {"error": f"The PDF has more than {MAX_PAGES} pages, the most one source may have."}
        except (*_DAMAGED, OSError) as exc:
            return {"error": f"The PDF cannot be read ({type(exc).__name__}); it may be damaged."}
        if count > MAX_PAGES:
            return {"error": f"The PDF has {count} pages; one source may have at most {MAX_PAGES}."}
        pages, limited = [], 0
        for page in reader.pages:
            try:
                pages.append(page.extract_text() or "")
            except LimitReachedError:
                pages.append("")
                limited += 1
            except _DAMAGED:
                pages.append("")  # one damaged page costs that page, not the document
        if limited and not any(page.strip() for page in pages):
            message = "The PDF's pages expand past the reader's limits; it may be built to exhaust it."
            return {"error": message}
        title = ""
        with contextlib.suppress(Exception):
            metadata: Any = reader.metadata or {}
            title = str(metadata.get("/Title") or "")
        return {"pages": pages, "title": title}
