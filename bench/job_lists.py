"""What a newest-first job list costs a user with many jobs: window reads against the ORM's (prints figures).

On the embedded SecantusDB, `filter(user=...).order_by("-created_at")[:20]` fetches every job of the
user before it sorts and takes the page, and a filter with a field beyond an index's (`status`) scans the
whole collection. contentgen reads newest-first pages one window of creation times at a time
(jobs/selectors.py `newest`). Each run starts a fresh embedded server and stores `--jobs` jobs for the
user (one a minute back from now, 8 in 10 completed, 1 failed, 1 cancelled), half as many for another
user, and 200 batches, one with 25 members; then times, per read, the ORM's read that contentgen made
before (the baseline) beside contentgen's:
- the dashboard's lists: the newest 50 jobs and 20 batches;
- a list's first page of 20 (`GET /api/jobs/`, `/history/`), with its count, unfiltered and by status;
- the 50th page (jobs 981-1,000);
- a batch's page (`?bulk_job=`, 25 members).
The counts are contentgen's own (`counted`), and the last read is the count alone.

Usage: python bench/job_lists.py [--runs 3] [--jobs 10000] [--ops 5]
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Stack  # noqa: E402
from bench.standalone import paired_main, timed  # noqa: E402

READS = [
    "the dashboard's lists (50 jobs, 20 batches)",
    "first page of 20, with its count",
    "first page of 20 with status=failed, with its count",
    "page 50 of 20, with its count",
    "a batch's 25 members (bulk_job=), with their count",
    "the count alone: all the user's jobs",
]
STATUSES = ["completed"] * 8 + ["failed", "cancelled"]


def store(user: Any, count: int, now: dt.datetime) -> None:
    from jobs.models import GenerationJob  # noqa: PLC0415

    jobs = [
        GenerationJob(
            user=user,
            mode="topic",
            topic=f"list {n}",
            status=STATUSES[n % len(STATUSES)],
            created_at=now - dt.timedelta(minutes=n),
            updated_at=now,
        )
        for n in range(count)
    ]
    for start in range(0, count, 1000):
        GenerationJob.objects.bulk_create(jobs[start : start + 1000])


def one_run(stack: Stack, jobs: int, ops: int) -> dict[str, tuple[float, float]]:
    """{read: (the ORM's, contentgen's)} in ms, on a fresh embedded server."""
    from django.contrib.auth import get_user_model  # noqa: PLC0415
    from django.core.paginator import Paginator  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    from jobs.core import selectors  # noqa: PLC0415
    from jobs.core.filters import filter_jobs, history_jobs  # noqa: PLC0415
    from jobs.models import BulkJob, GenerationJob  # noqa: PLC0415

    now = timezone.now()
    store(stack.user, jobs, now)
    store(get_user_model().objects.create(username="bench-other"), jobs // 2, now)
    bulks = BulkJob.objects.bulk_create(
        [BulkJob(user=stack.user, total=5, created_at=now - dt.timedelta(hours=n)) for n in range(200)]
    )
    user, bulk = stack.user, bulks[0].pk
    GenerationJob.objects.bulk_create(
        [GenerationJob(user=user, mode="topic", topic="member", bulk_job_id=bulk) for _ in range(25)]
    )

    def orm_dashboard(_: Any) -> Any:
        return (
            list(selectors.jobs_for_user(user=user)[:50]),
            list(BulkJob.objects.filter(user=user).order_by("-created_at")[:20]),
        )

    def dashboard(_: Any) -> Any:
        return selectors.newest_jobs(user=user, count=50), selectors.newest_bulks(user=user, count=20)

    def page(listing: Any, number: int) -> Any:
        return list(Paginator(listing(), 20).page(number).object_list)

    def orm_list(filters: dict[str, Any], bulk_job: Any = None) -> Any:
        return lambda: filter_jobs(selectors.jobs_for_user(user=user, bulk_job=bulk_job), filters)

    def our_list(filters: dict[str, Any], bulk_job: Any = None) -> Any:
        return lambda: history_jobs(user=user, filters=filters, bulk_job=bulk_job)

    failed = {"status": "failed"}
    rounds = list(range(ops))
    found = {
        READS[0]: (timed(orm_dashboard, rounds), timed(dashboard, rounds)),
        READS[1]: (
            timed(lambda _: page(orm_list({}), 1), rounds),
            timed(lambda _: page(our_list({}), 1), rounds),
        ),
        READS[2]: (
            timed(lambda _: page(orm_list(failed), 1), rounds),
            timed(lambda _: page(our_list(failed), 1), rounds),
        ),
        READS[3]: (
            timed(lambda _: page(orm_list({}), 50), rounds),
            timed(lambda _: page(our_list({}), 50), rounds),
        ),
        READS[4]: (
            timed(lambda _: page(orm_list({}, bulk), 1), rounds),
            timed(lambda _: page(our_list({}, bulk), 1), rounds),
        ),
    }
    found[READS[5]] = (
        timed(lambda _: selectors.jobs_for_user(user=user).count(), rounds),
        timed(lambda _: selectors.counted(GenerationJob, {"userId": user.pk}), rounds),
    )
    # The same jobs, newest first, or the figures mean nothing: page 50, and the whole batch (its members
    # were made in the same millisecond, and the ORM leaves the order of equal times open).
    for listed in (lambda made: page(made({}), 50), lambda made: list(made({}, bulk)()[0:25])):
        ours = [(job.created_at, job.pk) for job in listed(our_list)]
        assert sorted(ours, reverse=True) == ours
        assert {pk for _, pk in ours} == {job.pk for job in listed(orm_list)}
    return found


def main() -> int:
    return paired_main(
        __file__,
        __doc__,
        one_run,
        READS,
        ops=5,
        what="a fresh server, {jobs} jobs of one user and {other} of another",
        heading="A user with {jobs} jobs: median ms per read of {runs} runs (smallest-largest):",
        columns=("read", "the ORM's"),
        digits=1,
    )


if __name__ == "__main__":
    sys.exit(main())
