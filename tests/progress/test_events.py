"""The event log's guarantees, on the real embedded MongoDB."""

from __future__ import annotations

import threading

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from progress import events

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
