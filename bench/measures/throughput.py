"""5. Throughput: events persisted and published per second, and the deliveries they make."""

from __future__ import annotations

import threading
import time
from typing import Any

from bench.common import Stack, client_pool, queued_jobs, serving
from bench.config import Config, contentgen_server
from bench.load import job_path, progress_payload
from bench.report import Report, Row, Section, spread

NAME = "throughput"


def run(stack: Stack, cfg: Config, report: Report) -> None:
    from progress import events  # noqa: PLC0415

    jobs = queued_jobs(stack.user, cfg.throughput_jobs)
    paths = [job_path(job) for job in jobs for _ in range(cfg.throughput_viewers)]
    runs: dict[str, list[dict[str, Any]]] = {"one insert per event": [], "group commit": []}
    with client_pool() as clients:
        for run in range(cfg.runs):
            for name in runs:
                server = contentgen_server(f"throughput-{run}-{len(runs[name])}", cfg)
                with serving(server, report.problems):
                    clients.call(
                        "connect",
                        port=server.port,
                        paths=paths,
                        token=stack.token,
                        concurrency=64,
                        ready_on_event=True,
                    )
                    clients.call("reset")
                    original = events.append
                    if name == "one insert per event":
                        events.append = events.append_one  # type: ignore[assignment]
                    try:
                        figures = flood(jobs, cfg.throughput_seconds)
                    finally:
                        events.append = original  # type: ignore[assignment]
                    started = time.monotonic()
                    got = clients.call("wait", expect=figures.pop("expect"), within=60)
                    figures["drain"] = time.monotonic() - started
                    figures["deliveries"] = got["delivered"] / (figures["seconds"] + figures["drain"])
                    figures["gaps"] = got["gaps"]
                    figures["complete"] = got["complete"] == got["viewers"]
                    clients.call("close")
                    runs[name].append(figures)
    base, ours = runs["one insert per event"], runs["group commit"]
    section = Section(
        f"5. Throughput ({cfg.throughput_jobs} jobs emitting at once from {FLOOD_THREADS} threads, "
        f"{cfg.throughput_viewers} SSE viewers each)",
        "Events through `publish` (event log insert, then the push) as fast as the threads go, for "
        f"{cfg.throughput_seconds:g} s; deliveries counted at the clients until the last event arrived.",
        "one insert_one per event",
    )
    section.rows += [
        Row(
            "events persisted and published per second",
            spread(base, "rate", 0),
            spread(ours, "rate", 0),
            ">= 1,000",
            all(o["rate"] >= 1000 for o in ours),
        ),
        Row(
            "deliveries per second",
            spread(base, "deliveries", 0),
            spread(ours, "deliveries", 0),
            ">= 5,000",
            all(o["deliveries"] >= 5000 for o in ours),
        ),
        Row(
            "seq gaps at the clients",
            spread(base, "gaps", 0),
            spread(ours, "gaps", 0),
            "0",
            all(o["gaps"] == 0 and o["complete"] for o in ours),
        ),
    ]
    report.sections.append(section)


FLOOD_THREADS = 16


def flood(jobs: list[Any], seconds: float) -> dict[str, Any]:
    """FLOOD_THREADS threads (a busy worker's job threads), each publishing for its share of the jobs in
    turn, back to back; (events/s, expectations per stream)."""
    from django.db import connections  # noqa: PLC0415

    from contentgen.clock import isoformat, now  # noqa: PLC0415
    from jobs.core.events import job_groups  # noqa: PLC0415
    from progress import events  # noqa: PLC0415
    from progress.layer import sender  # noqa: PLC0415
    from progress.publish import publish  # noqa: PLC0415

    start_gate = threading.Event()
    stop_at = [0.0]
    expect: dict[str, list[int]] = {}
    counts: list[int] = []
    lock = threading.Lock()

    def emit(share: list[Any]) -> None:
        state = [(job, progress_payload(job), job_groups(job), events.last_seq(job.pk)) for job in share]
        last = {job.pk: seq for job, _, _, seq in state}
        start_gate.wait()
        try:
            while time.monotonic() < stop_at[0]:
                for job, base, groups, _ in state:
                    data = {**base, "timestamp": isoformat(now())}
                    last[job.pk] = publish(
                        stream_id=job.pk,
                        scope="job",
                        type="progress",
                        data=data,
                        groups=groups,
                        after=last[job.pk],
                    )
        finally:
            connections.close_all()
        with lock:
            for job, _, _, first in state:
                expect[job_path(job)] = [first + 1, last[job.pk]]
                counts.append(last[job.pk] - first)

    shares = [jobs[index::FLOOD_THREADS] for index in range(min(FLOOD_THREADS, len(jobs)))]
    threads = [threading.Thread(target=emit, args=(share,), daemon=True) for share in shares]
    for thread in threads:
        thread.start()
    time.sleep(0.5)
    started = time.monotonic()
    stop_at[0] = started + seconds
    start_gate.set()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    sender().flush(30)
    return {"rate": sum(counts) / elapsed, "seconds": elapsed, "expect": expect}
