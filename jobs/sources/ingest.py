"""Ingestion, in the workers: claim a queued source, read it (its stored bytes, or its page through the
outbound guard), extract its text, split it into passages, analyse and store them, and build the user's
index again; each step streams on the source's progress stream. A worker that dies mid-source leaves a
lease that runs out, and another worker starts the source again, up to MAX_ATTEMPTS times.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone
from pymongo import ReturnDocument

from contentgen import mongo
from contentgen.redisconn import client
from contentgen.resilience import Backoff
from jobs.core import events, workers
from jobs.models import KnowledgeIndex, Passage, Source, SourceBlob
from jobs.pipeline import bm25, passages
from jobs.pipeline.extract import ExtractFailed, extract
from jobs.sources import fetching, index

logger = logging.getLogger("jobs.sources")

LEASE = dt.timedelta(minutes=5)
MAX_ATTEMPTS = 3
INSERT_CHUNK = 500
IDLE_SECONDS = 5.0


class Gone(Exception):
    """The source was deleted, or another worker holds it now: stop and leave it be."""


def _sources() -> Any:
    return mongo.collection(Source._meta.db_table)


def claim(owner: str) -> Source | None:
    """The oldest queued source, or one whose worker's lease ran out, leased to `owner`."""
    now = timezone.now()
    doc = _sources().find_one_and_update(
        {"$or": [{"status": Source.Status.QUEUED},
                 {"status": Source.Status.PROCESSING, "lease_expires_at": {"$lt": now}}]},
        {"$set": {"status": Source.Status.PROCESSING, "lease_owner": owner, "lease_expires_at": now + LEASE,
                  "updated_at": now}, "$inc": {"attempts": 1}},
        sort=[("created_at", 1)],
        return_document=ReturnDocument.AFTER,
    )  # fmt: skip
    return None if doc is None else mongo.instance(Source, doc)


class Run:
    """One attempt at one source: its steps, each renewing the lease and sending an event."""

    def __init__(self, source: Source, owner: str) -> None:
        self.source, self.owner = source, owner

    def step(self, stage: str, percentage: float, message: str) -> None:
        renewed = _sources().update_one(
            {"_id": self.source.pk, "lease_owner": self.owner, "status": Source.Status.PROCESSING},
            {"$set": {"lease_expires_at": timezone.now() + LEASE, "updated_at": timezone.now()}},
        )
        if renewed.matched_count != 1:
            raise Gone(str(self.source.pk))
        events.source_emit(source=self.source, stage=stage, percentage=percentage, message=message)

    def finish(self, status: str, *, error: str = "", passages: int = 0) -> None:
        stamp = timezone.now()
        changes = {"status": status, "error": error, "passages": passages, "lease_owner": None,
                   "lease_expires_at": None, "updated_at": stamp}  # fmt: skip
        done = _sources().update_one({"_id": self.source.pk, "lease_owner": self.owner}, {"$set": changes})
        if done.matched_count != 1:
            raise Gone(str(self.source.pk))
        self.source.status, self.source.error, self.source.passages = status, error, passages
        ready = status == Source.Status.READY
        message = f"Ready: {passages} passages indexed" if ready else f"Failed: {error}"
        events.source_emit(
            source=self.source, stage=status, percentage=100.0, message=message, type="complete"
        )
        SourceBlob.objects.filter(source_id=self.source.pk).delete()


def _read(run: Run) -> tuple[bytes, str, str]:
    source = run.source
    if source.kind == Source.Kind.URL:
        run.step("fetching", 5.0, f"Fetching {source.url[:120]}")
        page = fetching.fetch_page(source.url, max_bytes=int(settings.CONTENTGEN_SOURCE_MAX_BYTES))
        return page.body, page.content_type, ""
    run.step("reading", 5.0, "Reading the upload")
    pieces = SourceBlob.objects.filter(source_id=source.pk).order_by("number")
    return b"".join(bytes(piece.data) for piece in pieces), source.content_type, source.filename


def process(run: Run) -> None:
    source = run.source
    try:
        data, content_type, filename = _read(run)
        run.step("extracting", 15.0, "Extracting the text")
        extracted = extract(data, content_type=content_type, filename=filename, fallback_title=source.title)
    except (ExtractFailed, fetching.FetchFailed) as exc:
        run.finish(Source.Status.FAILED, error=str(exc))
        return
    # A file or page the user did not name is called by what it says it is, not by its file or host name.
    defaults = (source.filename, source.url, urlsplit(source.url or "").hostname or "", "")
    named_by_user = source.title not in defaults
    if source.kind != Source.Kind.TEXT and extracted.title and not named_by_user:
        source.title = extracted.title
        _sources().update_one({"_id": source.pk}, {"$set": {"title": source.title}})
    run.step("splitting", 40.0, "Splitting the text into passages")
    pieces = passages.split(extracted.text, page_starts=extracted.page_starts)
    cap = int(settings.CONTENTGEN_KB_MAX_PASSAGES)
    held = mongo.collection(Passage._meta.db_table).count_documents({"userId": source.user_id})
    if cap and held + len(pieces) > cap:
        run.finish(Source.Status.FAILED, error=(
            f"This source has {len(pieces):,} passages and your knowledge base already holds {held:,}: "
            f"over the limit of {cap:,} (CONTENTGEN_KB_MAX_PASSAGES). Delete sources, or split this one."))
        return
    if not pieces:
        run.finish(Source.Status.FAILED, error="The source has no text to index.")
        return
    first = index.take_ordinals(source.user_id, len(pieces))
    rows = []
    for number, piece in enumerate(pieces):
        if number % INSERT_CHUNK == 0:
            message = f"Indexing passage {number + 1} of {len(pieces)}"
            run.step("indexing", 45.0 + 45.0 * number / len(pieces), message)
        terms = bm25.term_counts(f"{piece.heading} {piece.text}")
        rows.append(
            Passage(user_id=source.user_id, source_id=source.pk, ordinal=first + number, text=piece.text,
                    heading=piece.heading, page=piece.page, words=piece.words, terms=terms)
        )  # fmt: skip
    for start in range(0, len(rows), INSERT_CHUNK):
        Passage.objects.bulk_create(rows[start : start + INSERT_CHUNK])
    run.step("indexing", 92.0, "Building the index")
    run.finish(Source.Status.READY, passages=len(rows))
    index.mark_dirty(source.user_id)
    index.rebuild(source.user_id)


def fail_exhausted(source: Source, owner: str) -> None:
    Run(source, owner).finish(
        Source.Status.FAILED,
        error=f"Ingestion was started {source.attempts - 1} times and never finished (a worker died or was "
        "stopped each time). Delete the source and add it again.",
    )


class SourceLoop:
    """A worker's ingestion thread: sources one at a time, then any index that needs building."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, name="sources", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join(10)

    def run(self) -> None:
        backoff = Backoff(base=1.0, cap=30.0)
        while not self.done.is_set():
            try:
                worked = self.pass_once()
                backoff.reset()
            except Exception as exc:
                logger.warning("ingestion pass failed (%s: %s); retrying", type(exc).__name__, exc)
                self.done.wait(backoff.next_delay())
                continue
            finally:
                close_old_connections()
            if not worked:
                self._wait(IDLE_SECONDS)

    def pass_once(self) -> bool:
        """One source, or one dirty index; False when there was nothing to do."""
        source = claim(self.owner)
        if source is not None:
            try:
                if source.attempts > MAX_ATTEMPTS:
                    fail_exhausted(source, self.owner)
                else:
                    process(Run(source, self.owner))
            except Gone:
                logger.info("source %s was deleted or taken over while ingesting", source.pk)
            return True
        dirty = mongo.collection(KnowledgeIndex._meta.db_table).find_one({"dirty": True}, {"userId": 1})
        if dirty is not None:
            index.rebuild(dirty["userId"])
            return True
        return False

    def _wait(self, seconds: float) -> None:
        """Until a notification, `seconds`, or a stop."""
        try:
            pubsub = client().pubsub(ignore_subscribe_messages=True)
            pubsub.subscribe(workers.SOURCES_CHANNEL)
        except Exception:
            self.done.wait(seconds)
            return
        try:
            waited = 0.0
            while waited < seconds and not self.done.is_set():
                if pubsub.get_message(timeout=0.2):
                    return
                waited += 0.2
        finally:
            pubsub.close()
