"""The event log, `progress_events`: (job_id, seq, type, data), seq = 1, 2, 3 ... per stream.

The unique index on (job_id, seq) is the arbiter: a writer inserts last + 1 and, when another
process (a takeover, a cancel from the web) took that number first, reads the tail again and
retries. No holes, no duplicates.

Writes are group-committed: threads that append at the same time (a worker running several jobs, a
batch being created) share one unordered `insert_many`, which the embedded server takes several times
faster than as many `insert_one` (docs/measurements.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from contentgen import mongo
from contentgen.clock import now

COLLECTION = "progress_events"
# The unique (job_id, seq) index. Reads name no hint: SecantusDB answers a hinted find by walking the
# whole index and decoding every event in the log, where a plain filter on job_id (and a seq range) reads
# only that job's entries.
INDEX = "progress_event_seq"
_INSERT_ATTEMPTS = 100
DUPLICATE_KEY = 11000


def collection() -> Collection[dict[str, Any]]:
    return mongo.collection(COLLECTION)


def last_seq(stream_id: ObjectId) -> int:
    docs = list(
        collection()
        .find({"job_id": stream_id}, {"seq": 1}, session=mongo.session())
        .sort("seq", DESCENDING)
        .limit(1)
    )
    return int(docs[0]["seq"]) if docs else 0


@dataclass(eq=False)
class _Pending:
    """One event waiting for the group commit."""

    doc: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    duplicate: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Appends from concurrent threads share one unordered insert_many.

    The first thread to arrive writes; threads arriving meanwhile queue up, and the next of them writes
    everything queued once the write in flight returns. A lone writer pays nothing extra. An event
    whose seq another writer took first comes back as a duplicate, and its own thread retries it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._writing = False

    def insert(self, doc: dict[str, Any]) -> bool:
        """Store `doc`; False if its (job_id, seq) is taken."""
        mine = _Pending(doc)
        with self._lock:
            self._queue.append(mine)
            lead = not self._writing
            self._writing = True
        while not lead:
            mine.done.wait()
            if mine.error is None and not mine.duplicate and mine.doc.get("_id") is None:
                lead = True  # handed the pen: write what is queued, this event included
            else:
                break
        if lead:
            with self._lock:
                batch, self._queue = self._queue, []
            self._write(batch)
            with self._lock:
                if self._queue:
                    self._queue[0].done.set()  # the next writer
                else:
                    self._writing = False
        if mine.error is not None:
            raise mine.error
        return not mine.duplicate

    def _write(self, batch: list[_Pending]) -> None:
        try:
            collection().insert_many([p.doc for p in batch], ordered=False)
        except BulkWriteError as exc:
            failed = {e["index"]: e for e in exc.details.get("writeErrors", [])}
            for index, pending in enumerate(batch):
                error = failed.get(index)
                if error is None:
                    continue
                if error.get("code") == DUPLICATE_KEY:
                    pending.duplicate = True
                else:
                    pending.error = exc
        except BaseException as exc:
            for pending in batch:
                pending.error = exc
        for pending in batch:
            pending.doc.setdefault("_id", ObjectId())  # insert_many set it; marks the event as handled
            pending.done.set()


_commit = GroupCommit()


def _doc(stream_id: ObjectId, scope: str, seq: int, type: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"job_id": stream_id, "scope": scope, "seq": seq, "type": type, "data": data, "timestamp": now()}


def append(
    *, stream_id: ObjectId, scope: str, type: str, data: dict[str, Any], after: int | None = None
) -> int:
    """Store one event and return its seq. `after` is the writer's idea of the last seq, if it has one.

    Inside a transaction (contentgen.mongo.atomic) the insert is the transaction's own (no group commit:
    its batch would mix sessions), and a taken seq aborts the transaction, so the DuplicateKeyError goes
    up and the whole transaction is tried again with fresh reads.
    """
    if mongo.in_transaction():
        return append_one(stream_id=stream_id, scope=scope, type=type, data=data, after=after)
    seq = (last_seq(stream_id) if after is None else after) + 1
    for _ in range(_INSERT_ATTEMPTS):
        if _commit.insert(_doc(stream_id, scope, seq, type, data)):
            return seq
        seq = last_seq(stream_id) + 1
    raise RuntimeError(f"could not append an event to {stream_id} after {_INSERT_ATTEMPTS} attempts")


def append_many(entries: list[dict[str, Any]]) -> list[int]:
    """Store several events in one insert_many; each entry has stream_id, scope, type, data and after.

    Entries of one stream must come in seq order with consecutive `after`s (0, 1, 2 ...). An entry
    whose seq was taken meanwhile is appended again after the log's tail. Inside a transaction, one
    `append` each (a taken seq aborts the transaction, see `append`)."""
    if mongo.in_transaction():
        return [
            append(
                stream_id=e["stream_id"], scope=e["scope"], type=e["type"], data=e["data"], after=e["after"]
            )
            for e in entries
        ]
    docs = [_doc(e["stream_id"], e["scope"], e["after"] + 1, e["type"], e["data"]) for e in entries]
    seqs = [doc["seq"] for doc in docs]
    if not docs:
        return seqs
    taken: list[int] = []
    try:
        collection().insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        taken = sorted(e["index"] for e in errors)
    for index in taken:
        entry = entries[index]
        seqs[index] = append(
            stream_id=entry["stream_id"], scope=entry["scope"], type=entry["type"], data=entry["data"]
        )
    return seqs


def append_one(
    *, stream_id: ObjectId, scope: str, type: str, data: dict[str, Any], after: int | None = None
) -> int:
    """`append` without the group commit: one insert_one per event (inside a transaction, and the
    benchmarks' baseline)."""
    seq = (last_seq(stream_id) if after is None else after) + 1
    for _ in range(_INSERT_ATTEMPTS):
        try:
            collection().insert_one(_doc(stream_id, scope, seq, type, data), session=mongo.session())
            return seq
        except DuplicateKeyError:
            if mongo.in_transaction():
                raise
            seq = last_seq(stream_id) + 1
    raise RuntimeError(f"could not append an event to {stream_id} after {_INSERT_ATTEMPTS} attempts")


def after(stream_id: ObjectId, seq: int, *, limit: int = 0) -> list[dict[str, Any]]:
    """Stored events with seq > `seq`, in order."""
    cursor = collection().find({"job_id": stream_id, "seq": {"$gt": seq}}).sort("seq", ASCENDING)
    return list(cursor.limit(limit) if limit else cursor)


# From this many events on, a stream's latest is read from its hinted seq. SecantusDB reads every event
# of a job to find its latest (about 0.05 ms each), where a range read from a seq costs about 0.55 ms.
HINTED_FROM = 10


def latest_many(
    stream_ids: list[ObjectId], *, hints: dict[ObjectId, int] | None = None
) -> dict[ObjectId, dict[str, Any]]:
    """The latest stored event of each stream. `hints` give a seq each stream's log has reached (never
    above its last): a long log is read from there, one range read per stream; the others, and any
    stream with nothing at or after its hint, share one `$in` read of their whole logs."""
    found: dict[ObjectId, dict[str, Any]] = {}
    whole = []
    for stream_id in stream_ids:
        hint = (hints or {}).get(stream_id, 0)
        docs = []
        if hint >= HINTED_FROM:
            docs = list(collection().find({"job_id": stream_id, "seq": {"$gte": hint}}))
        if docs:
            found[stream_id] = max(docs, key=lambda doc: doc["seq"])
        else:
            whole.append(stream_id)
    for doc in collection().find({"job_id": {"$in": whole}}) if whole else ():
        known = found.get(doc["job_id"])
        if known is None or doc["seq"] > known["seq"]:
            found[doc["job_id"]] = doc
    return found


def latest(stream_id: ObjectId) -> dict[str, Any] | None:
    docs = list(
        collection().find({"job_id": stream_id}, session=mongo.session()).sort("seq", DESCENDING).limit(1)
    )
    return docs[0] if docs else None


def carrying(stream_id: ObjectId, key: str, *, through: int) -> list[dict[str, Any]]:
    """The events up to seq `through` whose data has `key`, in order, with only `seq` and that key."""
    cursor = (
        collection()
        .find(
            {"job_id": stream_id, "seq": {"$lte": through}, f"data.{key}": {"$exists": True}},
            {"seq": 1, f"data.{key}": 1, "_id": 0},
        )
        .sort("seq", ASCENDING)
    )
    return list(cursor)


def streams_with(stream_ids: list[ObjectId], *, type: str) -> set[ObjectId]:
    """Which of `stream_ids` have at least one event of `type`: one read for all of them."""
    if not stream_ids:
        return set()
    return set(collection().distinct("job_id", {"job_id": {"$in": stream_ids}, "type": type}))


def last_events(stream_id: ObjectId, count: int) -> list[dict[str, Any]]:
    """The last `count` stored events, in order: a page's history without reading the whole log."""
    cursor = collection().find({"job_id": stream_id}).sort("seq", DESCENDING).limit(count)
    return list(reversed(list(cursor)))


def prune(stream_id: ObjectId) -> int:
    """Remove every event of a stream but its last one; returns how many went.

    The last event (a finished job's `complete`) stays, so a stream of the stream still starts, or
    resumes after any Last-Event-ID, with its final state and ends; `last_seq` keeps counting from it.
    """
    last = last_seq(stream_id)
    if last <= 1:
        return 0
    return int(collection().delete_many({"job_id": stream_id, "seq": {"$lt": last}}).deleted_count)
