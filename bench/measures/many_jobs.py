"""2. Many jobs: each client on a job of its own, against a bare Channels consumer and the seed's polling."""

from __future__ import annotations

from typing import Any

from bench.common import Stack, client_pool, queued_jobs, serving
from bench.config import DESIGNS, Config, design_server
from bench.load import job_path, streams_run
from bench.report import Report, Row, Section, all_complete, delivered, max_ok, ratio_text, ratios, spread

NAME = "many-jobs"


def run(stack: Stack, cfg: Config, report: Report) -> None:
    designs = ["contentgen", "channels", "polling"]
    runs: dict[str, list[dict[str, Any]]] = {d: [] for d in designs}
    with client_pool() as clients:
        for run in range(cfg.runs):
            # Each run on jobs of its own, so that the runs repeat one experiment: on the same jobs, each
            # run would open its streams on longer logs than the run before, and opening costs more there.
            jobs = queued_jobs(stack.user, cfg.many_clients)
            paths = [job_path(job) for job in jobs]
            for design in designs:
                server = design_server(design, f"many-jobs-{design}-{run}", cfg)
                with serving(server, report.problems):
                    runs[design].append(
                        streams_run(
                            stack,
                            server,
                            clients,
                            paths,
                            jobs,
                            rate=cfg.many_clients,
                            seconds=cfg.many_seconds,
                            token=stack.token if design == "contentgen" else None,
                            ready_on_event=design != "channels",
                            concurrency=64,
                            pause=cfg.pause,
                        )
                    )
    ours, bare, poll = runs["contentgen"], runs["channels"], runs["polling"]
    ratio_ok = all(
        o["p50"] <= 1.5 * b["p50"] and o["p99"] <= 1.5 * b["p99"] for o, b in zip(ours, bare, strict=True)
    )
    section = Section(
        f"2. Many jobs ({cfg.many_clients:,} clients, each on its own job, "
        f"{cfg.many_clients:,} events/s in total)",
        f"One {cfg.server[0]} process; the publisher writes the events due every 10 ms in one batch. "
        "Baselines: a bare Channels SSE consumer on the same server and layer, and the seed's design "
        "(every connection polls MongoDB every 2 s).",
        f"{DESIGNS['channels'][0]} / {DESIGNS['polling'][0]}",
    )
    section.rows += [
        Row(
            "latency p50 (ms)",
            f"{spread(bare, 'p50', 2)} / {spread(poll, 'p50', 0)}",
            spread(ours, "p50", 2),
            "<= 5",
            all(o["p50"] <= 5 for o in ours),
        ),
        Row(
            "latency p99 (ms)",
            f"{spread(bare, 'p99', 1)} / {spread(poll, 'p99', 0)}",
            spread(ours, "p99", 1),
            "<= 30",
            all(o["p99"] <= 30 for o in ours),
        ),
        Row("against the bare consumer (p50, p99)", "1x", ratios(ours, bare), "<= 1.5x", ratio_ok),
        Row(
            "the publisher's writes to the log (in every latency): p50 / p99 (ms)",
            f"{spread(bare, 'write_p50', 2)} / {spread(bare, 'write_p99', 1)}",
            f"{spread(ours, 'write_p50', 2)} / {spread(ours, 'write_p99', 1)}",
        ),
        Row(
            "seed design's p50 / contentgen's p50",
            "-",
            ratio_text(poll, ours, "p50"),
            ">= 100x",
            all(p["p50"] >= 100 * o["p50"] for p, o in zip(poll, ours, strict=True)),
        ),
        Row(
            "events delivered / expected",
            f"{delivered(bare)} / {delivered(poll)}",
            delivered(ours),
            "all, in order",
            all_complete(ours),
        ),
        Row(
            "connecting all clients (s)",
            f"{spread(bare, 'connect', 2)} / {spread(poll, 'connect', 2)}",
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
        Row(
            "server RSS with all clients (MB)",
            f"{spread(bare, 'rss_after', 0)} / {spread(poll, 'rss_after', 0)}",
            spread(ours, "rss_after", 0),
        ),
    ]
    report.sections.append(section)
    median_run = sorted(range(len(ours)), key=lambda i: ours[i]["p50"])[len(ours) // 2]
    report.plots["cdf"] = {
        DESIGNS[d][0]: runs[d][min(median_run, len(runs[d]) - 1)]["latencies"] for d in designs
    }
    report.plots["many_jobs"] = {d: [r["p50"] for r in runs[d]] for d in designs}
