"""The event log's guarantees, on the real embedded MongoDB."""

from __future__ import annotations

import asyncio
import threading

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from progress import events, streams
from progress.layer import sender, seq_hints
from progress.publish import publish

pytestmark = pytest.mark.django_db


def test_the_log_refuses_a_second_event_with_the_same_seq():
    stream = ObjectId()
    events.collection().insert_one({"job_id": stream, "seq": 1, "type": "progress", "data": {}})
    with pytest.raises(DuplicateKeyError):
        events.collection().insert_one({"job_id": stream, "seq": 1, "type": "progress", "data": {}})


def test_concurrent_writers_get_contiguous_distinct_seqs():
    stream = ObjectId()
    seqs: list[int] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        for _ in range(n):
            seq = events.append(stream_id=stream, scope="job", type="progress", data={}, after=0)
            with lock:
                seqs.append(seq)

    writers = [threading.Thread(target=write, args=(15,)) for _ in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=60)
    assert sorted(seqs) == list(range(1, 61))
    assert [e["seq"] for e in events.after(stream, 0)] == list(range(1, 61))
    assert events.latest(stream)["seq"] == 60 and events.last_seq(stream) == 60
    assert [e["seq"] for e in events.after(stream, 57)] == [58, 59, 60]


def test_the_group_commit_writes_every_event_once_and_frees_its_writers():
    """16 threads, each appending to its own stream as fast as it can: they share batches, the pen passes
    between threads, and afterwards nobody is left writing or waiting."""
    streams = [ObjectId() for _ in range(16)]
    got: dict[ObjectId, list[int]] = {stream: [] for stream in streams}
    sizes: list[int] = []
    write = events._commit._write

    def counted(batch: list) -> None:
        sizes.append(len(batch))
        write(batch)

    def run(stream: ObjectId) -> None:
        last = 0
        for _ in range(40):
            last = events.append(stream_id=stream, scope="job", type="progress", data={}, after=last)
            got[stream].append(last)

    events._commit._write = counted  # type: ignore[method-assign]
    try:
        threads = [threading.Thread(target=run, args=(stream,)) for stream in streams]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        del events._commit._write
    assert not any(thread.is_alive() for thread in threads)
    for stream in streams:
        assert got[stream] == list(range(1, 41))
        assert [e["seq"] for e in events.after(stream, 0)] == list(range(1, 41))
    assert sum(sizes) == 16 * 40 and max(sizes) > 1  # shared batches, each event in exactly one
    assert events._commit._writing is False and events._commit._queue == []


def test_streams_opening_on_many_jobs_at_once_each_get_their_own_latest_event_in_small_batches(monkeypatch):
    """The shared read of the latest events: one answer per stream, read 10 streams per query (SecantusDB
    tests every event it reads against the whole `$in` list: 500 streams per query took seconds)."""
    ids = [ObjectId() for _ in range(25)]
    events.collection().insert_many(
        [{"job_id": pk, "seq": seq, "type": "progress", "data": {"n": seq}} for n, pk in enumerate(ids)
         for seq in range(1, n % 4 + 2)]
    )  # fmt: skip
    batches: list[int] = []
    read = events.latest_many

    def counted(stream_ids, **kwargs):
        batches.append(len(stream_ids))
        return read(stream_ids, **kwargs)

    monkeypatch.setattr(events, "latest_many", counted)

    async def open_all():
        return await asyncio.wait_for(asyncio.gather(*(streams._latest.get(pk) for pk in ids)), timeout=30)

    latest = asyncio.run(open_all())

    assert [(doc["job_id"], doc["seq"]) for doc in latest] == [(pk, n % 4 + 1) for n, pk in enumerate(ids)]
    assert sum(batches) == 25 and max(batches) <= 10


class RecordingCollection:
    """The event log, recording each find's filter and how many events it returned."""

    def __init__(self, real):
        self.real, self.reads = real, []

    def find(self, filter, *args, **kwargs):
        docs = list(self.real.find(filter, *args, **kwargs))
        self.reads.append((filter, len(docs)))
        return docs


def test_a_long_log_is_read_from_its_hinted_seq_and_a_missing_or_stale_hint_reads_the_whole_log(monkeypatch):
    long, lower, missing, above, short = (ObjectId() for _ in range(5))
    sizes = {long: 30, lower: 30, missing: 30, above: 12, short: 3}
    events.collection().insert_many(
        [{"job_id": pk, "seq": seq, "type": "progress", "data": {}} for pk, size in sizes.items()
         for seq in range(1, size + 1)]
    )  # fmt: skip
    recording = RecordingCollection(events.collection())
    monkeypatch.setattr(events, "collection", lambda: recording)

    found = events.latest_many(list(sizes), hints={long: 30, lower: 20, above: 40, short: 3})

    assert {pk: doc["seq"] for pk, doc in found.items()} == sizes
    assert ({"job_id": long, "seq": {"$gte": 30}}, 1) in recording.reads  # one event read, not 30
    assert ({"job_id": lower, "seq": {"$gte": 20}}, 11) in recording.reads
    whole = [filter["job_id"]["$in"] for filter, _ in recording.reads if "$in" in str(filter)]
    assert whole == [[missing, above, short]]  # no hint, a hint past the log, a short log


def test_a_pushed_event_leaves_its_seq_as_the_streams_hint():
    stream = ObjectId()
    for _ in range(3):
        seq = publish(stream_id=stream, scope="job", type="progress", data={}, groups=[f"job-{stream}"])
    assert sender().flush(timeout=10)
    assert seq_hints([stream, ObjectId()]) == {stream: seq}
