"""Reads. Ownership is part of every query, so another user's job is indistinguishable from a missing one.

Lists newest first (the dashboard, the history page, `GET /api/jobs/`) read their page with `newest`: a
sorted page of a user's jobs costs all of them on the embedded server, and a range on the (user,
-created_at) index only the entries inside it (jobs.core.store states the rule). So `newest` reads back
from now one window of creation times at a time, each twice as long as the last, until it holds the page
(the claim's treatment of the queue, jobs.core.claiming). A replica set of mongod stops at the page either
way; the windows cost it a few index seeks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar, overload

from bson import ObjectId
from bson.errors import InvalidId
from django.db.models import Model, QuerySet
from django.utils import timezone

from contentgen import mongo
from jobs.models import BulkJob, GenerationJob

M = TypeVar("M", bound=Model)
# The newest window, then each one twice as long: 16 rounds reach back about 15 months, and whatever
# is older comes in one last read.
FIRST_WINDOW = dt.timedelta(minutes=10)
WINDOW_ROUNDS = 16


def parse_id(value: Any) -> ObjectId | None:
    if isinstance(value, ObjectId):
        return value
    text = str(value)
    if len(text) != 24:  # ObjectId() also takes any 12-character string as raw bytes
        return None
    try:
        return ObjectId(text)
    except (InvalidId, TypeError):
        return None


def jobs_for_user(*, user: Any, bulk_job: ObjectId | None = None) -> QuerySet[GenerationJob]:
    qs = GenerationJob.objects.filter(user=user)
    if bulk_job:
        qs = qs.filter(bulk_job_id=bulk_job)
    return qs.order_by("-created_at")


def owned(model: type[Any], *, user: Any, object_id: Any) -> Any:
    """Look up by primary key alone, then check the owner (a filter on `_id` and `userId` together is the
    collection scan of jobs.core.store's rule). Runs once per page view and per stream connection."""
    oid = parse_id(object_id)
    if oid is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        obj = model.objects.get(pk=oid)
    except model.DoesNotExist:
        return None
    return obj if obj.user_id == user.pk else None


def job_for_user(*, user: Any, job_id: Any) -> GenerationJob | None:
    return owned(GenerationJob, user=user, object_id=job_id)


def bulk_for_user(*, user: Any, bulk_id: Any) -> BulkJob | None:
    return owned(BulkJob, user=user, object_id=bulk_id)


def _created_in(where: dict[str, Any], created: dict[str, Any]) -> dict[str, Any]:
    return {**where, "created_at": created} if created else where


def _kept(docs: Iterable[dict[str, Any]], also: dict[str, Any] | None) -> Iterator[dict[str, Any]]:
    wanted = list((also or {}).items())
    return (doc for doc in docs if all(doc.get(name) == value for name, value in wanted))


def counted(
    model: type[Model],
    where: dict[str, Any],
    *,
    also: dict[str, Any] | None = None,
    after: dt.datetime | None = None,
    before: dt.datetime | None = None,
) -> int:
    """How many documents `newest` chooses from: a count on the same index. `also`'s fields are checked
    here, on the documents `where` matches (the ORM's count of the same filter scans the collection)."""
    coll = mongo.collection(model._meta.db_table)
    query = _created_in(where, mongo.between(after, before))
    if not also:
        return coll.count_documents(query)
    return sum(1 for _ in _kept(coll.find(query, dict.fromkeys(also, 1)), also))


def newest(
    model: type[M],
    where: dict[str, Any],
    count: int,
    *,
    also: dict[str, Any] | None = None,
    after: dt.datetime | None = None,
    before: dt.datetime | None = None,
) -> list[M]:
    """The newest `count` of `model`'s documents created in [after, before) whose fields equal `where`'s
    and `also`'s, newest first (ties by `_id`, newest first), as instances.

    `where` is one equality that an index (field, created_at) serves; `also` is checked here on what the
    windows read (a filter with a field beyond the index's is a collection scan, jobs.core.store). Reads
    [min(now, before) - FIRST_WINDOW, before) first (open above when `before` is None,
    so a job stamped by a clock running ahead is still found), then the windows below it, each twice as
    long as the last, until `count` are found or `after` is reached; after WINDOW_ROUNDS windows, all
    that is older in one read. The windows do not overlap and go back in time, so the newest `count` read
    are the newest `count` there are."""
    coll = mongo.collection(model._meta.db_table)
    docs: list[dict[str, Any]] = []

    def read(created: dict[str, Any]) -> None:
        docs.extend(_kept(coll.find(_created_in(where, created)), also))

    # The first window ends at `before` and starts FIRST_WINDOW before now (or before `before`, if earlier).
    hi, edge, width = before, timezone.now() if before is None else min(before, timezone.now()), FIRST_WINDOW
    for _ in range(WINDOW_ROUNDS):
        try:
            lo = edge - width
        except OverflowError:  # past the first moment a datetime holds: the rest is the last read
            break
        if after is not None and lo <= after:
            break
        read(mongo.between(lo, hi))
        if len(docs) >= count:
            break
        hi, edge, width = lo, lo, 2 * width
    if len(docs) < count:
        read(mongo.between(after, hi))
    docs.sort(key=lambda doc: (doc["created_at"], doc["_id"]), reverse=True)
    return [mongo.instance(model, doc) for doc in docs[:count]]


class NewestFirst(Sequence[M]):
    """A list for Django's and DRF's paginators: its length is `counted`, and each page is read by
    `newest` (the documents a queryset of the same filter ordered by -created_at, then -_id, would give)."""

    def __init__(
        self,
        model: type[M],
        where: dict[str, Any],
        *,
        also: dict[str, Any] | None = None,
        after: dt.datetime | None = None,
        before: dt.datetime | None = None,
    ) -> None:
        self.model, self.where = model, where
        self.choice: dict[str, Any] = {"also": also, "after": after, "before": before}
        self._count: int | None = None

    def __len__(self) -> int:
        """The count (a paginator asks it first, by len(): Sequence's count() counts one value)."""
        if self._count is None:
            self._count = counted(self.model, self.where, **self.choice)
        return self._count

    @overload
    def __getitem__(self, key: int) -> M: ...

    @overload
    def __getitem__(self, key: slice) -> list[M]: ...

    def __getitem__(self, key: int | slice) -> M | list[M]:
        if isinstance(key, int):
            return self[key : key + 1][0]
        start, stop = key.start or 0, key.stop
        if stop is None or start < 0 or stop < 0 or key.step not in (None, 1):
            raise ValueError("NewestFirst takes slices [start:stop] with 0 <= start")
        if self._count is not None:  # a paginator counts first: the windows stop once all are found
            stop = min(stop, self._count)
        if stop <= start:
            return []
        return newest(self.model, self.where, stop, **self.choice)[start:]


def newest_jobs(*, user: Any, count: int) -> list[GenerationJob]:
    return newest(GenerationJob, {"userId": user.pk}, count)


def newest_bulks(
    *, user: Any, count: int, after: dt.datetime | None = None, before: dt.datetime | None = None
) -> list[BulkJob]:
    return newest(BulkJob, {"userId": user.pk}, count, after=after, before=before)


def bulk_jobs(*, bulk: BulkJob) -> QuerySet[GenerationJob]:
    return GenerationJob.objects.filter(bulk_job=bulk).order_by("created_at")
