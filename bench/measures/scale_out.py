"""8. Scale-out: 2 web processes and several workers on this machine; jobs per minute against workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

from bench.common import (
    LOG_DIR,
    ROOT,
    Spread,
    Stack,
    client_pool,
    die_with_parent,
    job_spec,
    serving_together,
)
from bench.config import Config, contentgen_server
from bench.load import job_path
from bench.queued import clear_queue
from bench.report import Report, Row, Section

NAME = "scale-out"


def start_workers(count: int, extra: dict[str, str] | None = None) -> list[subprocess.Popen[bytes]]:
    procs = []
    for index in range(count):
        log = (LOG_DIR / f"bench-worker-{index}.log").open("ab")
        procs.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "run_worker"],
                cwd=ROOT,
                env={
                    **os.environ,
                    "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "0",
                    "PYTHONUNBUFFERED": "1",
                    **(extra or {}),
                },
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )
        )
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every worker at once, then wait for them all (each hands its jobs back)."""
    from contentgen.embedded import stop_processes  # noqa: PLC0415

    stop_processes(procs, timeout=60)


def wait_finished(ids: list[Any], timeout: float) -> float:
    from jobs.models import GenerationJob  # noqa: PLC0415

    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if GenerationJob.objects.filter(pk__in=ids, status__in=["queued", "processing"]).count() == 0:
            return time.monotonic() - started
        time.sleep(0.25)
    raise RuntimeError(f"jobs still unfinished after {timeout:.0f} s")


def run(stack: Stack, cfg: Config, report: Report) -> None:
    from jobs.core import services  # noqa: PLC0415
    from jobs.models import GenerationJob  # noqa: PLC0415
    from progress import events  # noqa: PLC0415

    spec = job_spec(word_count=300)
    webs = [contentgen_server(f"scaleout-web-{i}", cfg) for i in range(2)]
    with client_pool() as clients, serving_together(webs, report.problems):
        clear_queue()
        bulk = services.bulk_create(user=stack.user, specs=[spec] * cfg.scaleout_jobs)
        jobs = list(GenerationJob.objects.filter(bulk_job=bulk))
        ids = [job.pk for job in jobs]
        for index, server in enumerate(webs):
            mine = [job_path(job) for job in jobs[index::2]]
            got = clients.call(
                "connect",
                port=server.port,
                paths=mine,
                token=stack.token,
                concurrency=64,
                ready_on_event=True,
            )
            if got["failures"]:
                raise RuntimeError(f"scale-out clients failed: {got['first_failure']}")
        workers = start_workers(cfg.scaleout_workers)
        try:
            seconds = wait_finished(ids, timeout=600)
        finally:
            stop_workers(workers)
        expect = {}
        complete_events = attempts_one = 0
        for job in GenerationJob.objects.filter(pk__in=ids):
            log = events.after(job.pk, 0)
            expect[job_path(job)] = [1, int(log[-1]["seq"])]
            complete_events += sum(1 for e in log if e["type"] == "complete") == 1
            attempts_one += job.attempts == 1 and job.status == "completed"
        got = clients.call("wait", expect=expect, within=60)
        clients.call("close")
    every = got["complete"] == got["viewers"] == len(ids)
    once = complete_events == attempts_one == len(ids)
    rates = jobs_per_minute(stack, cfg, report)
    section = Section(
        f"8. Scale-out on this machine (2 web processes, {cfg.scaleout_workers} workers, "
        f"{cfg.scaleout_jobs} jobs at zero model delay)",
        "Clients spread over both web processes, one stream per job, opened before the workers start.",
        "1 worker",
    )
    section.rows += [
        Row(
            "jobs run exactly once (one attempt, one `complete`)",
            "-",
            f"{attempts_one} / {len(ids)}",
            "all",
            once,
        ),
        Row(
            "clients with every event of their job, in order",
            "-",
            f"{got['complete']} / {got['viewers']}",
            "all",
            every,
        ),
        Row(
            f"jobs per minute, {cfg.scaleout_workers} workers, this run",
            "-",
            f"{len(ids) / seconds * 60:.1f}",
        ),
    ]
    for count in cfg.worker_counts:
        section.rows.append(
            Row(
                f"jobs per minute at zero delay, {count} worker(s)",
                Spread(rates[cfg.worker_counts[0]]).fmt(1),
                Spread(rates[count]).fmt(1),
            )
        )
    report.sections.append(section)
    # The quick run measures no worker counts of its own: its one point is this run's workers.
    report.plots["workers"] = {count: rates[count] for count in cfg.worker_counts} or {
        cfg.scaleout_workers: [len(ids) / seconds * 60]
    }


def jobs_per_minute(stack: Stack, cfg: Config, report: Report) -> dict[int, list[float]]:
    from jobs.core import services  # noqa: PLC0415
    from jobs.core.workers import live_worker_slots  # noqa: PLC0415
    from jobs.models import GenerationJob  # noqa: PLC0415

    spec = job_spec(word_count=300)
    rates: dict[int, list[float]] = {}
    for count in cfg.worker_counts:
        workers = start_workers(count)
        try:
            deadline = time.monotonic() + 120
            while live_worker_slots() < count and time.monotonic() < deadline:  # started before the clock
                time.sleep(0.2)
            clear_queue()
            bulk = services.bulk_create(user=stack.user, specs=[spec] * cfg.workers_jobs)
            ids = list(GenerationJob.objects.filter(bulk_job=bulk).values_list("pk", flat=True))
            seconds = wait_finished(ids, timeout=600)
        finally:
            stop_workers(workers)
        rates[count] = [len(ids) / seconds * 60]
    return rates
