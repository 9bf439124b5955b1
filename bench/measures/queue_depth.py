"""6. The queue at depth: one claim's time with 100 to 10,000 jobs queued, against the ORM's claim."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.common import Spread, Stack
from bench.config import Config
from bench.queued import clear_queue, fill_queue, top_up_queue
from bench.report import Report, Row, Section

NAME = "queue"


def run(stack: Stack, cfg: Config, report: Report) -> None:
    ours: dict[int, list[float]] = {}
    base: dict[int, list[float]] = {}
    for depth in cfg.depths:
        ours[depth], base[depth] = [], []
        fill_queue(stack.user, depth)
        for _ in range(cfg.runs):
            # The previous claim takes seconds at depth: fewer of them there.
            claims = cfg.baseline_claims if depth < 10_000 else 1
            top_up_queue(stack.user, depth)
            base[depth].append(statistics.median(time_claims(orm_claim, claims, depth)))
            top_up_queue(stack.user, depth)
            ours[depth].append(statistics.median(time_claims(new_claim, cfg.claims, depth)))
    clear_queue()
    section = Section(
        "6. The queue at depth (one claim: find the oldest queued jobs and take one by a conditional update)",
        "The embedded SecantusDB; the queue refilled to the depth before each run; "
        "median claim time per run.",
        "the ORM's filters (the previous claim)",
    )
    deepest = cfg.depths[-1]
    for depth in cfg.depths:
        section.rows.append(
            Row(
                f"claim at depth {depth:,} (ms)",
                Spread(base[depth]).fmt(2),
                Spread(ours[depth]).fmt(2),
                "< 5" if depth == deepest else "",
                all(v < 5 for v in ours[depth]) if depth == deepest else None,
            )
        )
    flat = max(ours[deepest]) <= 2 * max(1.0, statistics.median(ours[cfg.depths[0]]))
    section.rows.append(
        Row(
            f"deepest / shallowest ({deepest:,} / {cfg.depths[0]:,})",
            ratio(base, cfg.depths),
            ratio(ours, cfg.depths),
            "flat (<= 2x)",
            flat,
        )
    )
    report.sections.append(section)


def ratio(values: dict[int, list[float]], depths: list[int]) -> str:
    return f"{statistics.median(values[depths[-1]]) / statistics.median(values[depths[0]]):.1f}x"


def time_claims(claim: Callable[[], Any], count: int, depth: int) -> list[float]:
    times = []
    for _ in range(min(count, depth)):
        started = time.perf_counter()
        got = claim()
        times.append((time.perf_counter() - started) * 1000)
        assert got is not None, "the queue ran dry"
    return times


def new_claim() -> Any:
    from jobs.core.leases import job_claim  # noqa: PLC0415

    # As a worker claims: its lease watch, not the claim, takes dead workers' jobs back.
    return job_claim(worker_id="bench", take_over=False)


def orm_claim() -> Any:
    """The previous claim, through the ORM: kept here as the baseline."""
    import random  # noqa: PLC0415

    from django.db.models import F  # noqa: PLC0415
    from django.utils import timezone  # noqa: PLC0415

    from jobs.models import GenerationJob  # noqa: PLC0415

    stamp = timezone.now()
    queued = list(
        GenerationJob.objects.filter(status="queued").order_by("queued_at").values_list("pk", flat=True)[:8]
    )
    random.shuffle(queued)
    for pk in queued:
        won = GenerationJob.objects.filter(pk=pk, status="queued").update(
            status="processing", lease_owner="bench", attempts=F("attempts") + 1, updated_at=stamp
        )
        if won == 1:
            return GenerationJob.objects.select_related("user").get(pk=pk)
    return None
