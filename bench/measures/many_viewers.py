"""1. Many viewers of one job: one job's events fanned out to many SSE clients."""

from __future__ import annotations

from typing import Any

from bench.common import Stack, client_pool, job_spec, serving
from bench.config import DESIGNS, Config, design_server
from bench.load import job_path, streams_run
from bench.report import Report, Row, Section, all_complete, delivered, max_ok, spread

NAME = "one-job"


def run(stack: Stack, cfg: Config, report: Report) -> None:
    from jobs.core import services  # noqa: PLC0415

    job = services.job_create(user=stack.user, spec=job_spec())
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "contentgen": []}
    with client_pool() as clients:
        for run in range(cfg.runs):
            for design in runs:
                server = design_server(design, f"one-job-{design}-{run}", cfg)
                with serving(server, report.problems):
                    runs[design].append(
                        streams_run(
                            stack,
                            server,
                            clients,
                            [job_path(job)] * cfg.fanout_viewers,
                            [job],
                            rate=5.0,
                            seconds=cfg.fanout_seconds,
                            token=stack.token if design == "contentgen" else None,
                            ready_on_event=design == "contentgen",
                            concurrency=64,
                            pause=cfg.pause,
                        )
                    )
    base, ours = runs["bare"], runs["contentgen"]
    p99_ok = all(o["p99"] <= 100 and o["p99"] < b["p99"] for o, b in zip(ours, base, strict=True))
    section = Section(
        f"1. Many viewers of one job ({cfg.fanout_viewers:,} SSE clients, "
        f"5 events/s for {cfg.fanout_seconds:g} s)",
        f"One {cfg.server[0]} process, the pub/sub channel layer, clients and publisher on the same cores. "
        "Each figure: median of the runs (smallest-largest).",
        DESIGNS["bare"][0],
    )
    section.rows += [
        Row("latency p50 (ms)", spread(base, "p50"), spread(ours, "p50")),
        Row(
            "latency p99 (ms)",
            spread(base, "p99"),
            spread(ours, "p99"),
            "<= 100 and below the bare app, each run",
            p99_ok,
        ),
        Row(
            "events delivered / expected",
            delivered(base),
            delivered(ours),
            "all, in order, once",
            all_complete(ours),
        ),
        Row("server CPU while publishing (%)", spread(base, "cpu", 0), spread(ours, "cpu", 0)),
        Row(
            "connecting all viewers (s)",
            spread(base, "connect", 2),
            spread(ours, "connect", 2),
            "<= 1.5 s",
            all(o["connect"] <= 1.5 for o in ours),
        ),
        Row(
            "database reads per stream opened",
            "-",
            spread(ours, "reads_per_stream", 3),
            "<= 2",
            max_ok(ours, "reads_per_stream", 2),
        ),
    ]
    report.sections.append(section)
