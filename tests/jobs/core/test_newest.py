"""Newest-first lists read by window (jobs.core.selectors.newest): the same jobs in the same order as a full
sort, whatever their ages, and a page of recent jobs reads only the recent ones."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.paginator import Paginator
from django.utils import timezone

from jobs.core import selectors
from jobs.core.filters import history_jobs
from jobs.models import GenerationJob
from tests.factories import BulkFactory

pytestmark = pytest.mark.django_db

# Seconds before now: an hour ahead (a clock running fast), ties, inside and across the first windows,
# days, past the last window (WINDOW_ROUNDS reach about 15 months back) and decades.
AGES = [-3600, 0, 0, 0, 1, 59, 601, 1199, 1201, 3600 * 5, 86400 * 3, 86400 * 40, 86400 * 700, 86400 * 365 * 30]


def store(user: Any, ages: list[float], now: dt.datetime) -> list[GenerationJob]:
    jobs = [
        GenerationJob(
            user=user,
            mode=("topic", "keywords")[n % 2],
            topic=f"job {n}",
            status=("completed", "failed", "completed")[n % 3],
            created_at=now - dt.timedelta(seconds=age),
            updated_at=now,
        )
        for n, age in enumerate(ages)
    ]
    return GenerationJob.objects.bulk_create(jobs)


def expected(jobs: list[GenerationJob], **equal: Any) -> list[Any]:
    kept = [job for job in jobs if all(getattr(job, name) == value for name, value in equal.items())]
    kept.sort(key=lambda job: (job.created_at, job.pk), reverse=True)
    return [job.pk for job in kept]


def paged(listing: Any, size: int) -> list[Any]:
    paginator = Paginator(listing, size)
    return [job.pk for number in paginator.page_range for job in paginator.page(number).object_list]


@pytest.fixture
def stored(user, other_user):
    now = timezone.now()
    mine = store(user, AGES, now)
    store(other_user, AGES, now)  # interleaved with mine at every age
    return now, [GenerationJob.objects.get(pk=job.pk) for job in mine]


@pytest.mark.parametrize("size", [1, 3, 7, 50])
@pytest.mark.parametrize("equal", [{}, {"status": "failed"}, {"mode": "keywords"}], ids=str)
def test_window_reads_page_the_same_jobs_in_the_same_order_as_a_full_sort(user, stored, size, equal):
    _, mine = stored
    listing = history_jobs(user=user, filters=equal)
    assert isinstance(listing, selectors.NewestFirst)
    assert paged(listing, size) == expected(mine, **equal)
    assert len(listing) == len(expected(mine, **equal))


def test_a_creation_range_keeps_its_ends_as_the_orm_does(user, stored):
    _, mine = stored
    at = {age: job.created_at for age, job in zip(AGES, mine, strict=True)}  # as stored (milliseconds)
    after, before = at[86400 * 40], at[59]  # from, inclusive; to, exclusive
    listing = history_jobs(user=user, filters={"created_after": after, "created_before": before})
    inside = [job for job in mine if after <= job.created_at < before]
    assert [job.pk for job in listing[0:100]] == expected(inside)
    assert len(inside) == len(listing) == 6


def test_a_batch_filter_lists_its_members_to_its_owner_only(user, other_user):
    bulk = BulkFactory(user=user, size=4)
    members = expected(list(GenerationJob.objects.filter(bulk_job=bulk)))
    mine, theirs = (history_jobs(user=u, filters={}, bulk_job=bulk.pk) for u in (user, other_user))
    assert (len(mine), [job.pk for job in mine[0:10]]) == (4, members)
    assert (len(theirs), theirs[0:10]) == (0, [])


class Counting:
    """A collection whose finds count the documents they return."""

    def __init__(self, inner: Any, seen: list[int]) -> None:
        self.inner, self.seen = inner, seen

    def find(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        docs = list(self.inner.find(*args, **kwargs))
        self.seen.append(len(docs))
        return docs

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def reads(monkeypatch) -> list[int]:
    seen: list[int] = []
    real = selectors.mongo.collection
    monkeypatch.setattr(selectors.mongo, "collection", lambda name: Counting(real(name), seen))
    return seen


@pytest.mark.parametrize(
    "filters", [{}, {"created_before": dt.datetime.max.replace(tzinfo=dt.UTC)}], ids=["any", "before the end of time"]
)
def test_a_page_of_recent_jobs_reads_only_the_recent_ones(user, reads, filters):
    now = timezone.now()
    store(user, [86400 + n for n in range(400)], now)  # yesterday's
    recent = store(user, list(range(30)), now)  # the last half-minute's
    listing = history_jobs(user=user, filters=filters)
    assert [job.pk for job in listing[0:20]] == expected(recent)[:20]
    assert sum(reads) == 30  # the first window's, and none of yesterday's 400


def test_a_batch_list_reads_only_the_batch_for_its_count_and_its_page(user, reads):
    store(user, [60 * n for n in range(300)], timezone.now())
    bulk = BulkFactory(user=user, size=5)
    reads.clear()
    page = Paginator(history_jobs(user=user, filters={"status": "queued"}, bulk_job=bulk.pk), 20).page(1)
    assert (page.paginator.count, len(page.object_list)) == (5, 5)
    assert reads == [5, 5]  # the count's read, then the page's first window


def test_a_list_that_counts_nothing_reads_nothing_more(user, reads):
    store(user, [60 * n for n in range(50)], timezone.now())
    page = Paginator(history_jobs(user=user, filters={"status": "queued"}), 20).page(1)
    assert list(page.object_list) == []
    assert reads == [50]  # the count's read of my jobs by the index, and no window after it


def test_the_dashboard_shows_the_newest_fifty_jobs(client, user):
    now = timezone.now()
    jobs = store(user, [3600 * n for n in range(60)], now)
    client.force_login(user)
    body = client.get("/").content.decode()
    shown = [str(pk) for pk in expected(jobs)]
    assert all(pk in body for pk in shown[:50])
    assert not any(pk in body for pk in shown[50:])
