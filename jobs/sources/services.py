"""A user's knowledge base: adding a source (a file, a web page, pasted text) and removing one.

Adding stores the source queued, with its bytes, and wakes the workers: ingestion (extract, split, index) is
a worker's job (jobs.sources.ingest), never the request's. Every limit is checked before anything is stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from contentgen import mongo
from contentgen.errors import ApplicationError, InvalidInput
from jobs.core import events, limits, workers
from jobs.core.validation import TEXTAREA_CONTROLS, WEB_URL
from jobs.models import Passage, Source, SourceBlob
from jobs.sources import index

# Under MongoDB's 16 MB document limit, with room for the document around the bytes.
BLOB_PIECE = 4 * 1024 * 1024
MAX_TITLE = 200
MAX_URL = 2000
_CONTROL_RE = re.compile(f"[{TEXTAREA_CONTROLS}]")


@dataclass(frozen=True)
class Upload:
    name: str
    content_type: str
    data: bytes


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):g} MiB"


def _title(value: Any, field: str, *, required: bool) -> str:
    if value is None or value == "":
        if required:
            raise InvalidInput({field: [f"{field} is required."]})
        return ""
    if not isinstance(value, str):
        raise InvalidInput({field: [f"{field} must be a string."]})
    if _CONTROL_RE.search(value):
        raise InvalidInput({field: [f"{field} may not contain control characters."]})
    text = " ".join(value.split())
    if len(text) > MAX_TITLE:
        raise InvalidInput({field: [f"{field} must be at most {MAX_TITLE} characters."]})
    if required and not text:
        raise InvalidInput({field: [f"{field} may not be blank."]})
    return text


def _check_room(user: Any) -> None:
    """A user at the passage limit adds nothing more until they delete sources."""
    cap = int(settings.CONTENTGEN_KB_MAX_PASSAGES)
    held = mongo.collection(Passage._meta.db_table).count_documents({"userId": user.pk})
    if cap and held >= cap:
        raise ApplicationError(
            f"Your knowledge base holds {held:,} passages, the most it may (CONTENTGEN_KB_MAX_PASSAGES is "
            f"{cap:,}). Delete sources to add more.",
            status=400,
        )


def check_size(size: int, field: str) -> None:
    cap = int(settings.CONTENTGEN_SOURCE_MAX_BYTES)
    if size > cap:
        raise ApplicationError(
            f"The {field} is {_mib(size)}; a source may be at most {_mib(cap)} "
            "(CONTENTGEN_SOURCE_MAX_BYTES).",
            status=413,
            extra={field: [f"{field} must be at most {_mib(cap)}."]},
        )


def _create(user: Any, *, kind: str, title: str, data: bytes = b"", **fields: Any) -> Source:
    stamp = timezone.now()
    source = Source.objects.create(
        user=user, kind=kind, title=title, size_bytes=len(data), created_at=stamp, updated_at=stamp, **fields
    )
    SourceBlob.objects.bulk_create(
        SourceBlob(source=source, number=n, data=data[start : start + BLOB_PIECE])
        for n, start in enumerate(range(0, len(data), BLOB_PIECE))
    )
    events.source_emit(source=source, stage="queued", percentage=0.0, message="Waiting for a worker", after=0)
    workers.notify_sources()
    return source


def source_add_text(*, user: Any, title: Any, text: Any) -> Source:
    clean_title = _title(title, "title", required=True)
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput({"text": ["text is required: paste the text to add."]})
    if "\x00" in text:
        raise InvalidInput({"text": ["text may not contain NUL characters."]})
    data = text.encode("utf-8")
    check_size(len(data), "text")
    _check_room(user)
    limits.charge_sources(user=user)
    return _create(user, kind=Source.Kind.TEXT, title=clean_title, data=data, content_type="text/plain")


def source_add_url(*, user: Any, url: Any, title: Any = None) -> Source:
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput({"url": ["url is required."]})
    url = url.strip()
    if len(url) > MAX_URL or not re.fullmatch(WEB_URL, url):
        message = f"url must be an http or https address in ASCII, of at most {MAX_URL} characters."
        raise InvalidInput({"url": [message]})
    parts = urlsplit(url)
    clean_title = _title(title, "title", required=False) or parts.hostname
    _check_room(user)
    limits.charge_sources(user=user)
    return _create(user, kind=Source.Kind.URL, title=clean_title, url=url)


def source_add_file(*, user: Any, upload: Upload, title: Any = None) -> Source:
    check_size(len(upload.data), "file")
    if not upload.data:
        raise InvalidInput({"file": ["The file is empty."]})
    name = _CONTROL_RE.sub("", upload.name or "")[-255:]
    clean_title = _title(title, "title", required=False) or name or "Untitled file"
    _check_room(user)
    limits.charge_sources(user=user)
    return _create(user, kind=Source.Kind.FILE, title=clean_title[:MAX_TITLE], data=upload.data,
                   filename=name, content_type=upload.content_type[:100])  # fmt: skip


def source_delete(*, source: Source) -> None:
    """The source, its bytes and its passages go; the user's index is rebuilt by a worker."""
    mongo.collection(Passage._meta.db_table).delete_many({"source_id": source.pk})
    SourceBlob.objects.filter(source=source).delete()
    user_id = source.user_id
    source.delete()
    index.mark_dirty(user_id)
    workers.notify_sources()
