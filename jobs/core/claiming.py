"""Claiming from a deep queue with index range reads that cost the size of a window, not of the queue.

A sorted, limited read of the queue costs the whole queue on the embedded server, and a range on the
(status, queued_at) index only the entries inside it (jobs.core.store states the rule). So the claimer
keeps a floor under the queue and reads it one window at a time, [floor, floor + width), with the width
adapted to hold about 2 x CANDIDATES jobs. Jobs older than the floor (handed back by a stopping worker,
queued on a host whose clock is behind) are found by a range read below the floor, which is empty and
cheap in the normal case, and jobs queued after the last window (a host whose clock is ahead) by a
range read above it. Real MongoDB stops at the limit anyway; the windows cost it nothing.

A claim tries its window's candidates in random order; the ones it did not try are the next claim's
first picks, if that comes within SPARE_SECONDS (`QueueWindow.picks`), so a run of claims reads the
window about once per CANDIDATES claims. When every candidate was held by another transaction or taken
meanwhile, the claim reads on past them (up to PAST_ROUNDS windows more) rather than come back empty
while jobs wait behind them.

Only the choice of candidates lives here. The claim itself is `take_queued`/`take_over`, run by
jobs.core.leases inside the transaction (contentgen.mongo.atomic) that also moves the batch's counters,
so two claimers never both win.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from bson import ObjectId

from contentgen import mongo
from contentgen.redisconn import client as redis_client
from jobs.core import store
from jobs.core.store import PROCESSING, QUEUED, aware, bson_time
from jobs.models import GenerationJob

CANDIDATES = 8
# How long a claim's untried candidates stay the next claim's first picks.
SPARE_SECONDS = 1.0
# How many more windows a claim reads when every candidate of the last was held or taken.
PAST_ROUNDS = 2
MIN_WIDTH = dt.timedelta(milliseconds=1)
FIRST_WIDTH = dt.timedelta(seconds=1)
# Windows widen while they run thin (a short queue makes every window thin). Uncapped, 38 doublings from
# a second passed datetime's range, and every later claim of the process raised OverflowError.
MAX_WIDTH = dt.timedelta(days=366)
LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


FLOOR_KEY = "contentgen:queue:floor"


def _wider(span: dt.timedelta) -> dt.timedelta:
    return min(MAX_WIDTH, 2 * span)


def _end(start: dt.datetime, span: dt.timedelta) -> dt.datetime:
    """`start + span`, or the latest time there is when that passes it."""
    try:
        return start + span
    except OverflowError:
        return LATEST


def _windows(
    lo: dt.datetime, width: dt.timedelta, now: dt.datetime
) -> Iterator[tuple[dt.datetime, dt.datetime | None, dt.timedelta]]:
    """Queue-time ranges [lo, hi) from `lo` up, each twice as wide as the last, until one passes `now`; then
    [lo, the end of time) once (hi None): above now only a job stamped by a clock running ahead. Read in
    turn, they cover every queue time from `lo` on, so a queued job is always found."""
    while lo <= now:
        hi = _end(lo, width)
        yield lo, hi, width
        lo, width = hi, _wider(width)
    yield lo, None, width


def _read(filter: dict[str, Any], projection: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Queued jobs' documents, oldest first; whole by default: the claim builds its job from the one it
    wins, without a read more."""
    return sorted(store.jobs().find(filter, projection), key=lambda doc: (doc["queued_at"], doc["_id"]))


class QueueWindow:
    """The per-process floor and width. Only a hint: a wrong floor costs one larger read, never a job."""

    def __init__(self) -> None:
        self.floor: dt.datetime | None = None
        self.width = FIRST_WIDTH
        self._lock = threading.Lock()
        self._spare: list[dict[str, Any]] = []
        self._spare_at = 0.0

    def reset(self) -> None:
        with self._lock:
            self.floor, self.width = None, FIRST_WIDTH
            self._spare = []

    def picks(self, now: dt.datetime) -> Iterator[list[dict[str, Any]]]:
        """The claim's candidates, a list at a time: the ones the last claim of this process left, if it
        was less than SPARE_SECONDS ago, then the oldest queued jobs (`oldest`). A claim already picks at
        random among the oldest few, so the spares change no order it keeps, and the claim re-reads each
        one by `_id` (a spare another claimer took since is skipped). It saves a claim the window's read
        in a run of claims (a worker filling its slots, jobs that end at once)."""
        with self._lock:
            spare, self._spare = self._spare, []
            fresh = time.monotonic() - self._spare_at < SPARE_SECONDS
        if spare and fresh:
            yield spare
        docs = self.oldest(now)
        tried: set[ObjectId] = set()
        for _ in range(PAST_ROUNDS + 1):
            if not docs:
                return
            yield docs
            # Every one was held by another transaction or taken meanwhile: the next jobs in the queue, or a
            # job held at the head (its worker killed inside a transaction) would stop every claim behind it.
            tried.update(doc["_id"] for doc in docs)
            docs = self.after(docs[-1], tried, now)

    def after(self, last: dict[str, Any], tried: set[ObjectId], now: dt.datetime) -> list[dict[str, Any]]:
        """The queued jobs from `last`'s queue time on, less those `tried`: up to CANDIDATES, oldest first.
        Windows from there, each twice as wide as the last, as in `oldest`."""
        with self._lock:
            width = self.width
        for lo, hi, _ in _windows(aware(last["queued_at"]), width, now):
            docs = _read({"status": QUEUED, "queued_at": mongo.between(lo, hi)})
            docs = [doc for doc in docs if doc["_id"] not in tried]
            if docs:
                return docs[:CANDIDATES]
        return []

    def leave(self, docs: list[dict[str, Any]]) -> None:
        """The candidates a claim did not try: the next claim's first picks."""
        with self._lock:
            self._spare, self._spare_at = docs, time.monotonic()

    def oldest(self, now: dt.datetime) -> list[dict[str, Any]]:
        """The oldest queued jobs' documents (up to CANDIDATES), oldest first."""
        with self._lock:
            if self.floor is None:
                self.floor = _shared_floor()
            if self.floor is None:
                # Only when no claimer has left a floor in Redis: a read of the whole queue's times places it.
                times = [aware(doc["queued_at"]) for doc in _read({"status": QUEUED}, {"queued_at": 1})]
                if not times:
                    self.floor, self.width = now, FIRST_WIDTH
                    return []
                self.floor = times[0]
                spanned = times[min(len(times) - 1, 2 * CANDIDATES)] - self.floor
                self.width = min(MAX_WIDTH, spanned + MIN_WIDTH)
            # Everything below the floor (normally nothing) and the first window, in one read.
            lo = _end(self.floor, self.width)
            first = _read({"status": QUEUED, "queued_at": {"$lt": lo}})
            if first:
                return self._found(first, lo=None, now=now)
            for start, hi, width in _windows(lo, _wider(self.width), now):
                self.width = width
                docs = _read({"status": QUEUED, "queued_at": mongo.between(start, hi)})
                if docs:
                    return self._found(docs, lo=start if hi else None, now=now)
            # Nothing queued at all: restart small from here.
            self.floor, self.width = min(start, now), FIRST_WIDTH
            return []

    def head(self, count: int, now: dt.datetime) -> list[dict[str, Any]]:
        """The oldest `count` queued jobs' documents, oldest first (for the estimates' refresh): range reads
        up from the floor, each twice as wide as the last, so the cost is that of the jobs read."""
        if self.floor is None:
            self.oldest(now)  # places the floor
        with self._lock:
            floor, width = self.floor, self.width
        if floor is None:
            return []
        step = min(MAX_WIDTH, width * max(1, count // CANDIDATES))
        lo = _end(floor, step)
        docs = _read({"status": QUEUED, "queued_at": {"$lt": lo}})
        for start, hi, _ in _windows(lo, _wider(step), now):
            if hi is None or len(docs) >= count:
                break
            docs += _read({"status": QUEUED, "queued_at": mongo.between(start, hi)})
        return docs[:count]

    def _found(
        self, docs: list[dict[str, Any]], *, lo: dt.datetime | None, now: dt.datetime
    ) -> list[dict[str, Any]]:
        if not docs:
            self.floor, self.width = now, FIRST_WIDTH
            return []
        start = aware(docs[0]["queued_at"]) if lo is None else lo
        if start != self.floor:
            _share_floor(start)
        self.floor = start
        # About CANDIDATES jobs per window: enough to spread concurrent claimers, and each document read
        # costs a little beside the read itself. A window that held too few widens, or the next claims would
        # find it empty and read on.
        if len(docs) > 2 * CANDIDATES:
            self.width = min(MAX_WIDTH, max(MIN_WIDTH, aware(docs[CANDIDATES]["queued_at"]) - start))
        elif len(docs) < CANDIDATES // 2:
            self.width = _wider(max(self.width, aware(docs[-1]["queued_at"]) - start + MIN_WIDTH))
        return docs[:CANDIDATES]


window = QueueWindow()


def _shared_floor() -> dt.datetime | None:
    """The floor another claimer left: a hint for a process's first claim (a wrong one costs a read)."""
    try:
        raw = redis_client().get(FLOOR_KEY)
    except redis.RedisError:
        return None
    text = raw.decode() if isinstance(raw, bytes) else raw
    return dt.datetime.fromisoformat(text) if text else None


_shared_at = 0.0


def _share_floor(floor: dt.datetime) -> None:
    """At most once a second: the hint needs to be roughly right, not current."""
    global _shared_at
    if time.monotonic() - _shared_at < 1.0:
        return
    _shared_at = time.monotonic()
    with contextlib.suppress(redis.RedisError):
        redis_client().set(FLOOR_KEY, floor.isoformat())


def spread_queue_times(jobs: list[GenerationJob]) -> list[GenerationJob]:
    """One millisecond of queue time per job of a batch, oldest first, ending now: BSON keeps milliseconds,
    and a window can only split jobs whose queue times differ."""
    if jobs:
        end = jobs[-1].queued_at
        for back, job in enumerate(reversed(jobs)):
            job.queued_at = end - dt.timedelta(milliseconds=back)
    return jobs


def queued_before(when: dt.datetime, fields: list[str]) -> list[dict[str, Any]]:
    """The queued jobs queued before `when`, oldest first, with only `fields`: a range on the queue index
    (jobs.core.store)."""
    return _read({"status": QUEUED, "queued_at": {"$lt": when}}, dict.fromkeys([*fields, "queued_at"], 1))


def expired_leases(now: dt.datetime, *, keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
    """Processing jobs whose lease ran out and that `keep` keeps, oldest lease first: the processing jobs
    (jobs.core.store.running), filtered by the server. Each as {_id, lease_owner, lease_expires_at,
    bulk_job_id}."""
    docs = store.jobs().find(
        {"status": PROCESSING, "lease_expires_at": {"$lt": now}},
        {"lease_owner": 1, "lease_expires_at": 1, "bulk_job_id": 1},
    )
    mine = [doc for doc in docs if keep(doc)]
    for doc in mine:
        doc["lease_expires_at"] = aware(doc["lease_expires_at"])
    return sorted(mine, key=lambda doc: doc["lease_expires_at"])[:CANDIDATES]


def take_over(*, pk: ObjectId, worker_id: str, now: dt.datetime, lease_until: dt.datetime) -> bool:
    """Lease an expired job to `worker_id` (an attempt more). Inside a transaction, joins it."""
    result = store.jobs().update_one(
        {"_id": pk, "status": PROCESSING, "lease_expires_at": {"$lt": now}},
        {"$set": {"lease_owner": worker_id, "lease_expires_at": lease_until, "updated_at": now},
         "$inc": {"attempts": 1}},
        session=mongo.session(),
    )  # fmt: skip
    return result.modified_count == 1


def take_queued(
    *, doc: dict[str, Any], worker_id: str, now: dt.datetime, lease_until: dt.datetime
) -> dict[str, Any] | None:
    """Lease the queued job `doc` (as the window read it) to `worker_id`, an attempt more; returns the
    document as it now stands, or None if it is no longer queued (another claimer won). Joins the
    caller's transaction when there is one.

    In a transaction it reads the job, and updates it by `_id` alone if it is still queued. A write by
    anyone else to the job between that read and this update aborts the transaction with a write
    conflict (MongoDB's snapshot isolation; tests/jobs/core/test_claiming.py checks that SecantusDB does the
    same), so two claimers never both win. On SecantusDB that costs less than one conditional update,
    whose filter of more than one field first walks the server's index catalogue. (Reading the window
    inside the transaction as well costs more: the transaction's reads and its commit grow with what it
    has read.)

    Without transactions (a standalone mongod) it is one conditional update, whose filter also names the
    `updated_at` that was read: every move of a job stamps it, so the update fails if the job moved at
    all since (claimed, run and put back in the queue), and the document in hand is never stale. (A
    queued job's refreshed estimates leave it alone, and the worker's first progress replaces them.)"""
    changes = {"status": PROCESSING, "lease_owner": worker_id, "lease_expires_at": bson_time(lease_until),
               "updated_at": bson_time(now)}  # fmt: skip
    update = {"$set": changes, "$inc": {"attempts": 1}}
    collection = store.jobs()
    session = mongo.session()
    if session is not None:
        current = collection.find_one({"_id": doc["_id"]}, session=session)
        if current is None or current.get("status") != QUEUED:
            return None
        collection.update_one({"_id": doc["_id"]}, update, session=session)
        doc = current
    else:
        filter = {"_id": doc["_id"], "status": QUEUED, "updated_at": doc.get("updated_at")}
        if collection.update_one(filter, update).modified_count != 1:
            return None
    return {**doc, **changes, "attempts": doc.get("attempts", 0) + 1}
