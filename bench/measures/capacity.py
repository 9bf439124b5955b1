"""4. Capacity: RSS per idle stream, then connect/disconnect cycles that must leave nothing behind."""

from __future__ import annotations

import time
from typing import Any

from bench.common import ClientPool, Server, Stack, client_pool, queued_jobs, redis_clients, serving
from bench.config import DESIGNS, Config, design_server
from bench.load import job_path, server_metric
from bench.report import Report, Row, Section

NAME = "capacity"


def run(stack: Stack, cfg: Config, report: Report) -> None:
    jobs = queued_jobs(stack.user, cfg.idle_streams)
    paths = [job_path(job) for job in jobs]
    step = cfg.idle_streams // cfg.idle_steps
    curves: dict[str, list[tuple[int, float]]] = {}
    figures: dict[str, dict[str, Any]] = {}
    with client_pool() as clients:
        for design in ("bare", "contentgen"):
            server = design_server(design, f"capacity-{design}", cfg)
            token = stack.token if design == "contentgen" else None
            with serving(server, report.problems):
                clients.call(
                    "connect",
                    port=server.port,
                    paths=paths[:1],
                    token=token,
                    concurrency=1,
                    ready_on_event=design == "contentgen",
                )
                clients.call("close")
                time.sleep(cfg.pause)
                base = server.rss_mib()
                curve = [(0, base)]
                seconds = 0.0
                for start in range(0, cfg.idle_streams, step):
                    got = clients.call(
                        "connect",
                        port=server.port,
                        paths=paths[start : start + step],
                        token=token,
                        concurrency=256,
                        ready_on_event=design == "contentgen",
                    )
                    if got["failures"]:
                        raise RuntimeError(
                            f"{got['failures']} idle streams failed on {design}: {got['first_failure']}"
                        )
                    seconds += got["seconds"]
                    time.sleep(cfg.pause)
                    curve.append((start + step, server.rss_mib()))
                curves[DESIGNS[design][0]] = curve
                figures[design] = {
                    "per_stream": (curve[-1][1] - base) * 1024 / cfg.idle_streams,
                    "seconds": seconds,
                }
                clients.call("close")
                if design == "contentgen":
                    figures["leak"] = leak_check(server, clients, paths, stack.token, cfg)
    leak = figures["leak"]
    section = Section(
        f"4. Capacity ({cfg.idle_streams:,} idle SSE streams, each on its own job; then {cfg.cycles:,} "
        "connect/disconnect cycles)",
        "RSS of the one server process; streams opened 256 at a time.",
        DESIGNS["bare"][0],
    )
    section.rows += [
        Row(
            "RSS per idle stream (KiB)",
            f"{figures['bare']['per_stream']:.1f}",
            f"{figures['contentgen']['per_stream']:.1f}",
            "<= 32",
            figures["contentgen"]["per_stream"] <= 32,
        ),
        Row(
            "opening them all (s)",
            f"{figures['bare']['seconds']:.1f}",
            f"{figures['contentgen']['seconds']:.1f}",
        ),
        Row(
            "RSS after the cycles / before (MB)",
            "-",
            f"{leak['rss_after']:.1f} / {leak['rss_before']:.1f}",
            "within 10%",
            leak["rss_after"] <= 1.1 * leak["rss_before"],
        ),
        Row(
            "hub viewers / feeds left after the cycles",
            "-",
            f"{leak['viewers']:.0f} / {leak['feeds']:.0f}",
            "0 / 0",
            leak["viewers"] == 0 and leak["feeds"] == 0,
        ),
        Row(
            "Redis clients after / before the cycles",
            "-",
            f"{leak['redis_after']} / {leak['redis_before']}",
            "no more",
            leak["redis_after"] <= leak["redis_before"],
        ),
        Row("cycles that failed", "-", f"{leak['failures']}", "0", leak["failures"] == 0),
    ]
    report.sections.append(section)
    report.plots["rss"] = curves


def leak_check(
    server: Server, clients: ClientPool, paths: list[str], token: str, cfg: Config
) -> dict[str, Any]:
    warm = paths[: min(len(paths), 200)]
    clients.call("cycles", port=server.port, paths=warm, token=token, concurrency=50)
    settle(server, cfg.pause)
    before = {"rss": server.rss_mib(), "redis": redis_clients()}
    cycle_paths = (paths * (cfg.cycles // len(paths) + 1))[: cfg.cycles]
    result = clients.call("cycles", port=server.port, paths=cycle_paths, token=token, concurrency=100)
    settle(server, cfg.pause)
    return {
        "rss_before": before["rss"],
        "rss_after": server.rss_mib(),
        "redis_before": before["redis"],
        "redis_after": redis_clients(),
        "viewers": server_metric(server, "contentgen_stream_viewers"),
        "feeds": server_metric(server, "contentgen_stream_groups"),
        "failures": result["failures"],
    }


def settle(server: Server, pause: float, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server_metric(server, "contentgen_stream_viewers") != 0:
        time.sleep(0.2)
    time.sleep(2 * pause)
