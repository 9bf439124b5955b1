"""What a job action costs with many jobs stored: raw filters on `_id` against the ORM's (prints figures).

On the embedded SecantusDB, an ORM filter on `_id` and another field (`filter(pk=..., status=...)`) is
an `$and` that reads the whole collection, so its cost grows with every job ever stored. contentgen's
job actions filter on `_id` in raw pymongo instead (jobs/core/store.py `update_job`), a point lookup.
Each run starts a fresh embedded server, stores `--jobs` queued jobs and times, per action, contentgen
beside the ORM's filter of the same (the baseline, which does less: only the update or the read):
- the lease watch's next expiry (every worker asks every third of a lease);
- cancelling a queued job, and retrying it.

Usage: python bench/job_actions.py [--runs 3] [--jobs 10000] [--ops 10]
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import Stack  # noqa: E402
from bench.queued import add_queued  # noqa: E402
from bench.standalone import paired_main, timed  # noqa: E402

ACTIONS = ["next lease expiry", "cancel a queued job", "retry a cancelled job"]


def one_run(stack: Stack, jobs: int, ops: int) -> dict[str, tuple[float, float]]:
    """{action: (the ORM's filter, contentgen)} in ms, on a fresh embedded server."""
    from django.utils import timezone  # noqa: PLC0415

    from jobs.core import leases, services  # noqa: PLC0415
    from jobs.models import GenerationJob  # noqa: PLC0415

    add_queued(stack.user, jobs)
    for _ in range(3):  # a few leases to look at
        leases.job_claim(worker_id="bench", take_over=False)
    newest = list(GenerationJob.objects.filter(status="queued").order_by("-queued_at")[: 4 * ops])
    orm_cancel, ours_cancel, orm_retry, ours_retry = (newest[n * ops : (n + 1) * ops] for n in range(4))

    def orm_next_expiry(_: Any) -> Any:
        """The previous read, through the ORM."""
        return (
            GenerationJob.objects.filter(status="processing", lease_expires_at__isnull=False)
            .exclude(lease_owner="bench-other")
            .order_by("lease_expires_at")
            .values_list("lease_expires_at", flat=True)
            .first()
        )

    def orm_update(status: str, to: str) -> Callable[[Any], Any]:
        def update(job: Any) -> Any:
            return GenerationJob.objects.filter(pk=job.pk, status=status).update(
                status=to, updated_at=timezone.now()
            )

        return update

    found = {
        ACTIONS[0]: (
            timed(orm_next_expiry, list(range(ops))),
            timed(lambda _: leases.next_lease_expiry(worker_id="bench-other"), list(range(ops))),
        ),
        ACTIONS[1]: (
            timed(orm_update("queued", "cancelled"), orm_cancel),
            timed(lambda job: services.job_cancel(job=job), ours_cancel),
        ),
    }
    for job in orm_retry + ours_retry:
        services.job_cancel(job=job)
    found[ACTIONS[2]] = (
        timed(orm_update("cancelled", "queued"), orm_retry),
        timed(lambda job: services.job_retry(job=GenerationJob.objects.get(pk=job.pk)), ours_retry),
    )
    return found


def main() -> int:
    return paired_main(
        __file__,
        __doc__,
        one_run,
        ACTIONS,
        ops=10,
        what="a fresh server, {jobs} jobs stored",
        heading="With {jobs} jobs stored, median ms per action of {runs} runs (smallest-largest):",
        columns=("action", "the ORM's filter"),
        digits=2,
    )


if __name__ == "__main__":
    sys.exit(main())
