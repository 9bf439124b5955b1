"""Repairs what a crash between two writes could leave inconsistent; every worker runs it at start and
then every CONTENTGEN_RECONCILE_SECONDS.

The terminal moves are transactions where the server has them (contentgen.mongo.atomic), so on
SecantusDB and replica sets this finds nothing unless data was edited by hand. On a standalone
mongod, where each move is a few sequential writes, it is what makes them whole again. Each repair is
itself one transaction that re-reads what it checks, so several workers reconciling at once repair
a thing once. Every repair is logged.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.db.models import Q
from django.utils import timezone

from contentgen import mongo
from jobs.core.batches import bulk_emit, bulk_settle
from jobs.core.events import job_emit
from jobs.models import BulkJob, GenerationJob
from progress import events

logger = logging.getLogger("contentgen.reconcile")

# A worker's first pass looks this far back; later passes look back to where the previous one began, less
# OVERLAP (a move stamps `updated_at` before its transaction commits), so each pass reads only what moved.
LOOKBACK = timedelta(hours=6)
OVERLAP = timedelta(minutes=2)
# Finished jobs are checked for their `complete` event this many at a time, in one read of the log.
CHUNK = 500


class Reconciler:
    """A worker's reconciler: the window of each pass starts where the previous pass began."""

    def __init__(self) -> None:
        self.since: datetime | None = None

    def run(self) -> dict[str, int]:
        started = timezone.now()
        repaired = run(since=self.since or started - LOOKBACK)
        self.since = started - OVERLAP
        return repaired


def run(*, since: datetime | None = None) -> dict[str, int]:
    """One pass over what moved since `since` (default LOOKBACK ago) and every open batch. Returns how
    many things of each kind were repaired."""
    since = since or timezone.now() - LOOKBACK
    repaired = {
        "complete_events": 0,
        "batch_counters": 0,
        "batch_completed_at": 0,
        "batch_complete_events": 0,
    }
    finished = GenerationJob.objects.filter(status__in=GenerationJob.TERMINAL, updated_at__gte=since)
    pks = list(finished.values_list("pk", flat=True))
    for start in range(0, len(pks), CHUNK):
        chunk = pks[start : start + CHUNK]
        # Only the jobs whose log lacks a `complete` are re-read, each in its own transaction.
        for pk in set(chunk) - events.streams_with(chunk, type="complete"):
            if mongo.atomic(partial(_complete_event, pk)):
                repaired["complete_events"] += 1
    batches = BulkJob.objects.filter(Q(completed_at=None) | Q(updated_at__gte=since))
    for pk in batches.values_list("pk", flat=True):
        for kind in mongo.atomic(partial(_batch, pk)):
            repaired[kind] += 1
    return repaired


def _complete_event(pk: Any) -> bool:
    job = GenerationJob.objects.select_related("user").get(pk=pk)
    last = events.latest(job.pk)
    if not job.is_terminal or (last is not None and last["type"] == "complete"):
        return False
    seq = job_emit(job=job, type="complete", after=last["seq"] if last else 0)
    logger.warning("reconcile: job %s was %s with no complete event; appended it as #%d", pk, job.status, seq)
    return True


def member_counts(bulk_pk: Any) -> dict[str, int]:
    counts = dict.fromkeys(GenerationJob.Status.values, 0)
    rows = mongo.collection(GenerationJob._meta.db_table).aggregate(
        [{"$match": {"bulk_job_id": bulk_pk}}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}],
        session=mongo.session(),
    )
    for row in rows:
        counts[row["_id"]] = int(row["n"])
    return counts


def _batch(pk: Any) -> list[str]:
    bulk = BulkJob.objects.get(pk=pk)
    repairs: list[str] = []
    actual = member_counts(bulk.pk)
    if actual != bulk.counts:
        logger.warning(
            "reconcile: batch %s counters %s disagree with its members %s; set", pk, bulk.counts, actual
        )
        BulkJob.objects.filter(pk=pk).update(**{f"count_{status}": n for status, n in actual.items()})
        bulk.refresh_from_db()
        repairs.append("batch_counters")
    was_completed = bulk.completed_at
    finishing = bulk_settle(bulk=bulk)
    if finishing or (was_completed is not None and bulk.completed_at is None):
        logger.warning(
            "reconcile: batch %s completed_at %s disagreed with %d of %d finished; %s",
            pk,
            was_completed,
            bulk.finished,
            bulk.total,
            "completed it" if finishing else "reopened it",
        )
        repairs.append("batch_completed_at")
    last = events.latest(bulk.pk)
    missing_complete = bulk.completed_at is not None and (last is None or last["type"] != "complete")
    if finishing or missing_complete or repairs:
        bulk_emit(bulk=bulk, complete=finishing or missing_complete)
    if missing_complete and not finishing:
        logger.warning("reconcile: batch %s completed with no complete event; appended it", pk)
        repairs.append("batch_complete_events")
    return repairs
