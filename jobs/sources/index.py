"""A user's BM25 index in MongoDB: built from their passages' stored term counts, read by any worker.

A build writes a new generation of hashed buckets (jobs.pipeline.bm25), then points the user's state at it
with one conditional update and deletes the older generations; readers always see a complete generation,
and a reader that meets a generation deleted under it reads the state again. One builder at a time holds
the state's `building_until`; a change made meanwhile leaves the state `dirty`, and the builder goes again.
A query reads the state, the buckets of its terms, and the passages it ranks first: three reads, a handful
of documents, however large the knowledge base.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bson import Binary
from django.utils import timezone

from contentgen import mongo
from jobs.models import KnowledgeIndex, Passage, PostingBucket, Source
from jobs.pipeline import bm25

BUILD_LEASE = dt.timedelta(minutes=10)
MAX_QUERY_TERMS = 32


@dataclass(frozen=True)
class Hit:
    passage_id: Any
    source_id: Any
    title: str
    text: str
    heading: str
    page: int | None
    score: float


def _state() -> Any:
    return mongo.collection(KnowledgeIndex._meta.db_table)


def _buckets() -> Any:
    return mongo.collection(PostingBucket._meta.db_table)


def state_for(user_id: Any) -> dict[str, Any]:
    """The user's index state, made on first use (an empty index of generation 0)."""
    KnowledgeIndex.objects.get_or_create(user_id=user_id)
    return dict(_state().find_one({"userId": user_id}) or {})


def take_ordinals(user_id: Any, count: int) -> int:
    """The first of `count` new passage ordinals for the user; ordinals are never reused."""
    state_for(user_id)
    doc = _state().find_one_and_update(
        {"userId": user_id}, {"$inc": {"next_ordinal": count}}, projection={"next_ordinal": 1}
    )
    return int(doc["next_ordinal"])


def mark_dirty(user_id: Any) -> None:
    state_for(user_id)
    _state().update_one({"userId": user_id}, {"$set": {"dirty": True}})


def rebuild(user_id: Any) -> bool:
    """Build the user's index again while it is dirty. False when another builder holds it (that builder
    sees the change and builds again)."""
    state_for(user_id)
    while True:
        now = timezone.now()
        claimed = _state().find_one_and_update(
            {"userId": user_id, "$or": [{"building_until": None}, {"building_until": {"$lt": now}}]},
            {"$set": {"building_until": now + BUILD_LEASE, "dirty": False}},
        )
        if claimed is None:
            return False
        generation = int(claimed.get("generation") or 0) + 1
        try:
            documents, average, buckets = _write_generation(user_id, generation)
        except BaseException:
            _buckets().delete_many({"userId": user_id, "generation": generation})
            _state().update_one({"userId": user_id}, {"$set": {"building_until": None, "dirty": True}})
            raise
        after = _state().find_one_and_update(
            {"userId": user_id},
            {"$set": {"generation": generation, "documents": documents, "average_length": average,
                      "buckets": buckets, "building_until": None, "updated_at": timezone.now()}},
        )  # fmt: skip
        _buckets().delete_many({"userId": user_id, "generation": {"$ne": generation}})
        if not (after or {}).get("dirty"):
            return True


def _passage_terms(user_id: Any) -> Iterable[tuple[int, dict[str, int]]]:
    """Every passage of the user's ready sources: one read of the user's entries of the (user, ordinal)
    index, unsorted (the build needs all of them, in no order)."""
    ready = set(
        Source.objects.filter(user_id=user_id, status=Source.Status.READY).values_list("pk", flat=True)
    )
    docs = mongo.collection(Passage._meta.db_table).find(
        {"userId": user_id}, {"ordinal": 1, "terms": 1, "source_id": 1}
    )
    for doc in docs:
        if doc.get("source_id") in ready:
            yield int(doc["ordinal"]), dict(doc.get("terms") or {})


def _write_generation(user_id: Any, generation: int) -> tuple[int, float, int]:
    docs = list(_passage_terms(user_id))
    vocabulary = len({term for _, counts in docs for term in counts})
    buckets = bm25.bucket_count(vocabulary)
    packed = bm25.build(docs, buckets)
    rows = [
        {"userId": user_id, "generation": generation, "number": number, "data": Binary(blob)}
        for number, blob in packed.items()
    ]
    for start in range(0, len(rows), 200):
        _buckets().insert_many(rows[start : start + 200], ordered=False)
    lengths = [sum(counts.values()) for _, counts in docs]
    return len(docs), (sum(lengths) / len(lengths) if lengths else 0.0), buckets


def search(user_id: Any, query: str, *, limit: int) -> list[Hit]:
    """The user's passages that rank first for `query`, best first."""
    wanted = list(dict.fromkeys(bm25.terms(query)))[:MAX_QUERY_TERMS]
    if not wanted:
        return []
    for _attempt in range(3):
        state = _state().find_one({"userId": user_id}) or {}
        generation, count = int(state.get("generation") or 0), int(state.get("buckets") or 0)
        if not generation or not count:
            return []
        numbers = sorted({bm25.bucket_of(term, count) for term in wanted})
        where = {"userId": user_id, "generation": generation, "number": {"$in": numbers}}
        found = list(_buckets().find(where))
        if len(found) < len(numbers) and _replaced(user_id, generation):
            continue  # the generation was replaced while we read it: read the new one
        postings: dict[str, bm25.Postings] = {}
        for doc in found:
            postings.update(bm25.unpack(bytes(doc["data"]), wanted))
        ranked = bm25.score(postings, documents=int(state.get("documents") or 0),
                            average_length=float(state.get("average_length") or 0), top=limit)  # fmt: skip
        return _hits(user_id, ranked)
    return []


def _replaced(user_id: Any, generation: int) -> bool:
    return _state().find_one({"userId": user_id, "generation": generation}, {"_id": 1}) is None


def _hits(user_id: Any, ranked: list[tuple[int, float]]) -> list[Hit]:
    if not ranked:
        return []
    scores = dict(ranked)
    passages = mongo.collection(Passage._meta.db_table)
    docs = passages.find({"userId": user_id, "ordinal": {"$in": list(scores)}})
    by_ordinal = {doc["ordinal"]: doc for doc in docs}
    titles = dict(
        Source.objects.filter(pk__in={d["source_id"] for d in by_ordinal.values()}).values_list("pk", "title")
    )
    hits = []
    for ordinal, score in ranked:
        doc = by_ordinal.get(ordinal)
        if doc is None or doc["source_id"] not in titles:  # deleted since the index was built
            continue
        hits.append(Hit(doc["_id"], doc["source_id"], titles[doc["source_id"]], doc["text"],
                        doc.get("heading") or "", doc.get("page"), score))  # fmt: skip
    return hits
