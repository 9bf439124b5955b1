"""The benchmark suite: every measure of issue 11 beside its baseline, written to bench/results/REPORT.md.

Run it with `bench/run` (about 10 minutes) or `bench/run --quick` (a smoke run, seconds to a minute).
Everything runs on this machine, on the embedded SecantusDB and Redis: the servers under test, the
clients (bench/clients.py, their own process) and the publisher (this process). Each measure runs in a
process of its own (`--part`, see `main`), on new embedded services. Latency figures are the
median of RUNS runs, with the smallest and largest beside it; each baseline is measured in the same
run as contentgen, on the same server and channel layer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pymongo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    ClientPool,
    Server,
    Spread,
    Stack,
    client_pool,
    die_with_parent,
    percentile,
    raise_open_files,
    redis_clients,
    serving,
    serving_together,
    start_stack,
)

RESULTS = ROOT / "bench" / "results"
METRICS_TOKEN = "bench-metrics"
CONTENTGEN_ENV = {
    # One user owns every stream here: the per-user and per-process caps would refuse them.
    "CONTENTGEN_MAX_STREAMS_PER_USER": "0",
    "CONTENTGEN_MAX_STREAMS_PER_PROCESS": "0",
    "CONTENTGEN_METRICS_TOKEN": METRICS_TOKEN,
}
DESIGNS = {
    "contentgen": ("contentgen", "contentgen.asgi:application"),
    "bare": ("bare app, subscription per connection", "bench.fanout_baseline:application"),
    "channels": ("bare Channels SSE consumer", "bench.channels_baseline:application"),
    "polling": ("seed design: polls MongoDB every 2 s", "bench.polling_baseline:application"),
}


@dataclass
class Config:
    quick: bool
    runs: int
    fanout_viewers: int
    fanout_seconds: float
    many_clients: int
    many_seconds: float
    open_samples: int
    idle_streams: int
    idle_steps: int
    cycles: int
    throughput_jobs: int
    throughput_viewers: int
    throughput_seconds: float
    depths: list[int]
    claims: int
    baseline_claims: int
    scaleout_jobs: int
    scaleout_workers: int
    worker_counts: list[int]
    workers_jobs: int
    pause: float = 0.5  # for RSS and the embedded MongoDB to settle between steps
    server: tuple[str, str] = ("uvicorn", "uvloop")

    @classmethod
    def make(cls, quick: bool) -> Config:
        if quick:
            return cls(
                quick=True,
                runs=1,
                fanout_viewers=20,
                fanout_seconds=0.4,
                many_clients=20,
                many_seconds=0.4,
                open_samples=5,
                idle_streams=200,
                idle_steps=2,
                cycles=100,
                throughput_jobs=4,
                throughput_viewers=2,
                throughput_seconds=0.4,
                depths=[100, 300],
                claims=5,
                baseline_claims=2,
                scaleout_jobs=4,
                scaleout_workers=1,
                worker_counts=[],
                workers_jobs=3,
                pause=0.1,
            )
        return cls(
            quick=False,
            runs=3,
            fanout_viewers=1000,
            fanout_seconds=8.0,
            many_clients=1000,
            many_seconds=6.0,
            open_samples=100,
            idle_streams=10_000,
            idle_steps=5,
            cycles=10_000,
            throughput_jobs=200,
            throughput_viewers=5,
            throughput_seconds=5.0,
            depths=[100, 1_000, 10_000],
            claims=30,
            baseline_claims=2,
            scaleout_jobs=200,
            scaleout_workers=3,
            worker_counts=[1, 2, 3],
            workers_jobs=20,
        )


@dataclass
class Row:
    measure: str
    baseline: str
    ours: str
    goal: str = ""
    met: bool | None = None


@dataclass
class Section:
    title: str
    setup: str
    baseline_name: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Report:
    config: Config
    sections: list[Section] = field(default_factory=list)
    plots: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=dict)


def contentgen_server(name: str, cfg: Config, app: str = DESIGNS["contentgen"][1], **env: str) -> Server:
    kind, loop = cfg.server
    return Server(name=name, app=app, kind=kind, loop=loop, env={**CONTENTGEN_ENV, **env})


def design_server(design: str, name: str, cfg: Config) -> Server:
    return contentgen_server(name, cfg, DESIGNS[design][1])


def met_text(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**not met**")


# Publishing -------------------------------------------------------------------------------------


PUBLISH_TIMEOUT = 10.0


class Publisher:
    """Publishes progress events through contentgen's one publish path, at a steady rate, in a thread.

    Each tick sends the events due for the jobs next in turn with `publish_many` (one insert for all of
    them, then the pushes): the way several jobs emitting at once are written."""

    def __init__(self, jobs: list[Any], rate: float, seconds: float) -> None:
        from jobs.services import job_groups  # noqa: PLC0415
        from progress import events  # noqa: PLC0415

        self.jobs = jobs
        self.rate = rate
        self.seconds = seconds
        self.groups = {job.pk: job_groups(job) for job in jobs}
        self.base = {job.pk: _payload(job) for job in jobs}
        self.last = {job.pk: events.last_seq(job.pk) for job in jobs}
        self.first: dict[Any, int] = {}
        self.count = 0
        self.writes: list[float] = []  # each tick's publish_many, in ms: the database's share of the latency
        self.thread = threading.Thread(target=self._run, name="publisher", daemon=True)

    def start(self) -> Publisher:
        self.thread.start()
        return self

    def join(self) -> None:
        self.thread.join()
        from progress.layer import sender  # noqa: PLC0415

        sender().flush(15)

    def _run(self) -> None:
        from django.db import connections  # noqa: PLC0415

        from progress.events import isoformat, now  # noqa: PLC0415
        from progress.publish import publish_many  # noqa: PLC0415

        tick = 0.01
        total = round(self.rate * self.seconds)
        started = time.monotonic()
        # A server that cannot keep up (the polling baseline saturating the embedded MongoDB) gets what
        # was published by then: the run is bounded, and the shortfall shows as events not published.
        deadline = started + 3 * self.seconds + 10
        turn = 0
        try:
            while self.count < total and time.monotonic() < deadline:
                due = min(total, round((time.monotonic() - started) * self.rate) + 1) - self.count
                if due <= 0:
                    time.sleep(tick)
                    continue
                kept = dict(self.last), dict(self.first)
                entries = []
                for _ in range(due):
                    job = self.jobs[turn % len(self.jobs)]
                    turn += 1
                    data = {**self.base[job.pk], "timestamp": isoformat(now())}
                    entries.append(
                        {
                            "stream_id": job.pk,
                            "scope": "job",
                            "type": "progress",
                            "data": data,
                            "groups": self.groups[job.pk],
                            "after": self.last[job.pk],
                        }
                    )
                    self.last[job.pk] += 1
                    self.first.setdefault(job.pk, self.last[job.pk])
                try:
                    # Bounded: a starved server (the polling baseline, 1,000 connections polling the
                    # embedded MongoDB) once held one insert for over 10 minutes.
                    with pymongo.timeout(PUBLISH_TIMEOUT):
                        began = time.perf_counter()
                        publish_many(entries)
                        self.writes.append(1000 * (time.perf_counter() - began))
                except Exception as exc:  # a write timed out: stop; the shortfall shows at the clients
                    self.last, self.first = kept  # what was not stored is not expected
                    print(f"publisher stopped after {self.count} events: {type(exc).__name__}", flush=True)
                    break
                self.count += len(entries)
        finally:
            connections.close_all()

    def expect(self, path: Callable[[Any], str]) -> dict[str, list[int]]:
        return {
            path(job): [self.first[job.pk], self.last[job.pk]] for job in self.jobs if job.pk in self.first
        }


def _payload(job: Any) -> dict[str, Any]:
    from jobs.payloads import progress_event  # noqa: PLC0415

    data = progress_event(job)
    data["status"] = "processing"
    return data


def job_path(job: Any) -> str:
    return f"/api/jobs/{job.pk}/progress"


# 1. Many viewers of one job ---------------------------------------------------------------------


def streams_run(
    stack: Stack,
    server: Server,
    clients: ClientPool,
    paths: list[str],
    jobs: list[Any],
    *,
    rate: float,
    seconds: float,
    token: str | None,
    ready_on_event: bool,
    concurrency: int,
    pause: float,
) -> dict[str, Any]:
    """Connect the clients, publish, wait until every client has the last event; the figures. It starts
    once the embedded MongoDB is idle, and prints the run's headline figures."""
    from bench.common import wait_quiet  # noqa: PLC0415

    waited = wait_quiet(stack.services, interval=pause)
    clients.call(
        "connect",
        port=server.port,
        paths=paths[:1],
        token=token,
        concurrency=1,
        ready_on_event=ready_on_event,
    )
    clients.call("close")
    rss_before = server.rss_mib()
    ours = server.app == DESIGNS["contentgen"][1]
    reads_before = db_reads(server) if ours else None
    connect = clients.call(
        "connect",
        port=server.port,
        paths=paths,
        token=token,
        concurrency=concurrency,
        ready_on_event=ready_on_event,
    )
    reads_after = db_reads(server) if ours else None
    if connect["failures"]:
        clients.call("close")
        raise RuntimeError(
            f"{connect['failures']} streams did not start on {server.name}: {connect['first_failure']}"
        )
    time.sleep(pause)
    rss_after = server.rss_mib()
    clients.call("reset")
    cpu = server.cpu_seconds()
    wall = time.monotonic()
    publisher = Publisher(jobs, rate, seconds).start()
    publisher.join()
    result = clients.call("wait", expect=publisher.expect(job_path), within=30)
    wall = time.monotonic() - wall
    result["cpu"] = 100 * (server.cpu_seconds() - cpu) / wall
    clients.call("close")
    latencies = result.pop("latencies")
    result.update(
        p50=percentile(latencies, 0.5),
        p99=percentile(latencies, 0.99),
        connect=connect["seconds"],
        rss_before=rss_before,
        rss_after=rss_after,
        reads_per_stream=(reads_after - reads_before) / len(paths)
        if reads_before is not None and reads_after
        else None,
        latencies=latencies,
        published=publisher.count,
        write_p50=percentile(publisher.writes, 0.5),
        write_p99=percentile(publisher.writes, 0.99),
    )
    print(
        f"    {server.name}: connected in {result['connect']:.2f} s, p50 {result['p50']:.2f} ms, "
        f"p99 {result['p99']:.1f} ms; the publisher's writes p50 {result['write_p50']:.2f} ms, "
        f"p99 {result['write_p99']:.1f} ms (MongoDB idle after {waited:.1f} s)",
        flush=True,
    )
    return result


def db_reads(server: Server) -> float | None:
    from bench.common import http_get  # noqa: PLC0415

    status, body = http_get(server.port, "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    if status != 200:
        return None
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("contentgen_mongodb_commands_total{") and any(
            f'command="{name}"' in line for name in ("find", "aggregate", "count", "getMore")
        ):
            total += float(line.rsplit(" ", 1)[1])
    return total - 1  # the /metrics view's own aggregate


def one_job(stack: Stack, cfg: Config, report: Report) -> None:
    from bench.common import job_spec  # noqa: PLC0415
    from jobs import services  # noqa: PLC0415

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


# 2. Many jobs, 3. opening, and the server choices -------------------------------------------------


def many_jobs(stack: Stack, cfg: Config, report: Report) -> None:
    from bench.common import queued_jobs  # noqa: PLC0415

    designs = ["contentgen", "channels", "polling"]
    runs: dict[str, list[dict[str, Any]]] = {d: [] for d in designs}
    with client_pool() as clients:
        for run in range(cfg.runs):
            # Each run on jobs of its own, so that the runs repeat one experiment: on the same jobs, every
            # run would open streams on logs 6 events longer than the last (see the README on long logs).
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


def opening(stack: Stack, cfg: Config, report: Report) -> None:
    from bench.common import job_spec  # noqa: PLC0415
    from jobs import services  # noqa: PLC0415

    job = services.job_create(user=stack.user, spec=job_spec())
    results = []
    with client_pool() as clients:
        for run in range(cfg.runs):
            server = contentgen_server(f"opening-{run}", cfg)
            with serving(server, report.problems):
                clients.call(
                    "open_cost",
                    port=server.port,
                    stream_path=job_path(job),
                    plain_path="/healthz",
                    token=stack.token,
                    n=3,
                )
                cost = clients.call(
                    "open_cost",
                    port=server.port,
                    stream_path=job_path(job),
                    plain_path="/healthz",
                    token=stack.token,
                    n=cfg.open_samples,
                )
                results.append(
                    {
                        "stream": statistics.median(cost["stream_ms"]),
                        "plain": statistics.median(cost["plain_ms"]),
                    }
                )
    for r in results:
        r["ratio"] = r["stream"] / r["plain"]
    section = Section(
        f"3. Opening a stream ({cfg.open_samples} sequential opens, until the first event, "
        "against `GET /healthz`)",
        "One client, one request at a time, on the same server in the same run; median per run.",
        "`GET /healthz`",
    )
    section.rows += [
        Row("time (ms)", spread(results, "plain", 2), spread(results, "stream", 2)),
        Row(
            "stream open / plain request",
            "1x",
            spread(results, "ratio", 2) + "x",
            "<= 1.5x",
            all(r["ratio"] <= 1.5 for r in results),
        ),
    ]
    report.sections.append(section)


def choices(stack: Stack, cfg: Config, report: Report) -> None:
    """Servers and event loops on the many-jobs load; orjson against json on real payloads."""
    from bench.common import queued_jobs  # noqa: PLC0415

    count = max(10, cfg.many_clients // 2)
    jobs = queued_jobs(stack.user, count)
    paths = [job_path(job) for job in jobs]
    variants = {
        "daphne": ("daphne", ""),
        "uvicorn + asyncio": ("uvicorn", "asyncio"),
        "uvicorn + uvloop": ("uvicorn", "uvloop"),
    }
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    with client_pool() as clients:
        for run in range(cfg.runs):
            for name, (kind, loop) in variants.items():
                server = Server(
                    name=f"choice-{kind}-{loop or 'twisted'}-{run}",
                    kind=kind,
                    loop=loop or "asyncio",
                    env=CONTENTGEN_ENV,
                )
                with serving(server, report.problems):
                    runs[name].append(
                        streams_run(
                            stack,
                            server,
                            clients,
                            paths,
                            jobs,
                            rate=count,
                            seconds=cfg.many_seconds / 2,
                            token=stack.token,
                            ready_on_event=True,
                            concurrency=64,
                            pause=cfg.pause,
                        )
                    )
    section = Section(
        f"7. Choices by numbers ({count:,} clients on their own jobs, {count:,} events/s)",
        "contentgen's ASGI application under each server; JSON encoders on 1,000 real progress payloads.",
        "daphne",
    )
    base = runs["daphne"]
    for name in ("uvicorn + asyncio", "uvicorn + uvloop"):
        section.rows += [
            Row(f"{name}: latency p50 (ms)", spread(base, "p50", 2), spread(runs[name], "p50", 2)),
            Row(f"{name}: latency p99 (ms)", spread(base, "p99", 1), spread(runs[name], "p99", 1)),
            Row(f"{name}: server CPU (%)", spread(base, "cpu", 0), spread(runs[name], "cpu", 0)),
            Row(f"{name}: connecting all (s)", spread(base, "connect", 2), spread(runs[name], "connect", 2)),
        ]
    json_ms, orjson_ms = encoders(jobs, cfg.runs)
    section.rows.append(
        Row("encoding 1,000 payloads (ms): json vs orjson", Spread(json_ms).fmt(2), Spread(orjson_ms).fmt(2))
    )
    report.plots["choices"] = {name: [r["p99"] for r in rs] for name, rs in runs.items()}
    report.sections.append(section)


def encoders(jobs: list[Any], runs: int) -> tuple[list[float], list[float]]:
    from progress.jsonenc import dumps_json, dumps_orjson  # noqa: PLC0415

    payloads = [_payload(job) for job in (jobs * (1000 // max(1, len(jobs)) + 1))[:1000]]
    out: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for index, encode in enumerate((dumps_json, dumps_orjson)):
            started = time.perf_counter()
            for payload in payloads:
                encode(payload)
            out[index].append((time.perf_counter() - started) * 1000)
    return out


# 4. Capacity ---------------------------------------------------------------------------------------


def capacity(stack: Stack, cfg: Config, report: Report) -> None:
    from bench.common import queued_jobs  # noqa: PLC0415

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


def server_metric(server: Server, name: str) -> float:
    from bench.common import http_get  # noqa: PLC0415

    _, body = http_get(server.port, "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")


def settle(server: Server, pause: float, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server_metric(server, "contentgen_stream_viewers") != 0:
        time.sleep(0.2)
    time.sleep(2 * pause)


# 5. Throughput ---------------------------------------------------------------------------------------


def throughput(stack: Stack, cfg: Config, report: Report) -> None:
    from bench.common import queued_jobs  # noqa: PLC0415
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

    from jobs.services import job_groups  # noqa: PLC0415
    from progress import events  # noqa: PLC0415
    from progress.events import isoformat, now  # noqa: PLC0415
    from progress.layer import sender  # noqa: PLC0415
    from progress.publish import publish  # noqa: PLC0415

    start_gate = threading.Event()
    stop_at = [0.0]
    expect: dict[str, list[int]] = {}
    counts: list[int] = []
    lock = threading.Lock()

    def emit(share: list[Any]) -> None:
        state = [(job, _payload(job), job_groups(job), events.last_seq(job.pk)) for job in share]
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


# 6. The queue at depth ------------------------------------------------------------------------------


def queue_depth(stack: Stack, cfg: Config, report: Report) -> None:
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


def clear_queue() -> None:
    """Nothing queued or running: the jobs earlier measures created and never ran go, with their batches
    and events, so that no worker started later runs them first, nor repairs them (its reconciler gives
    a job marked ended by hand the `complete` event it lacks). Raw deletes: no worker is running."""
    from contentgen import mongo  # noqa: PLC0415
    from jobs.claiming import collection  # noqa: PLC0415
    from jobs.models import BulkJob  # noqa: PLC0415
    from progress import events  # noqa: PLC0415

    jobs = collection()
    left = list(jobs.find({"status": {"$in": ["queued", "processing"]}}, {"bulk_job_id": 1}))
    bulks = list({doc["bulk_job_id"] for doc in left if doc.get("bulk_job_id")})
    members = [doc["_id"] for doc in jobs.find({"bulk_job_id": {"$in": bulks}}, {"_id": 1})] if bulks else []
    gone = [doc["_id"] for doc in left] + members + bulks
    # Small chunks: a delete of 1,000 jobs' events can outlast the 20 s socket timeout on SecantusDB.
    for start in range(0, len(gone), 100):
        events.collection().delete_many({"job_id": {"$in": gone[start : start + 100]}})
        jobs.delete_many({"_id": {"$in": gone[start : start + 100]}})
    if bulks:
        mongo.collection(BulkJob._meta.db_table).delete_many({"_id": {"$in": bulks}})


def fill_queue(user: Any, depth: int) -> None:
    """Exactly `depth` queued jobs (made with the ORM in bulk, as a batch would be)."""
    clear_queue()
    add_queued(user, depth)


def top_up_queue(user: Any, depth: int) -> None:
    """Back to `depth` queued jobs after some were claimed: as many new ones at the back of the queue."""
    from jobs.claiming import collection  # noqa: PLC0415

    add_queued(user, depth - collection().count_documents({"status": "queued"}))


def add_queued(user: Any, count: int) -> None:
    from django.utils import timezone  # noqa: PLC0415

    from jobs.claiming import spread_queue_times  # noqa: PLC0415
    from jobs.models import GenerationJob  # noqa: PLC0415

    stamp = timezone.now()
    jobs = spread_queue_times(
        [
            GenerationJob(
                user=user,
                mode="topic",
                topic="queue depth",
                status="queued",
                queued_at=stamp,
                created_at=stamp,
                updated_at=stamp,
            )
            for _ in range(count)
        ]
    )
    for start in range(0, count, 1000):
        GenerationJob.objects.bulk_create(jobs[start : start + 1000])


def time_claims(claim: Callable[[], Any], count: int, depth: int) -> list[float]:
    times = []
    for _ in range(min(count, depth)):
        started = time.perf_counter()
        got = claim()
        times.append((time.perf_counter() - started) * 1000)
        assert got is not None, "the queue ran dry"
    return times


def new_claim() -> Any:
    from jobs.services import job_claim  # noqa: PLC0415

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


# 8. Scale-out ---------------------------------------------------------------------------------------


def start_workers(count: int, extra: dict[str, str] | None = None) -> list[subprocess.Popen[bytes]]:
    from bench.common import LOG_DIR  # noqa: PLC0415

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


def scale_out(stack: Stack, cfg: Config, report: Report) -> None:
    from bench.common import job_spec  # noqa: PLC0415
    from jobs import services  # noqa: PLC0415
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
    from bench.common import job_spec  # noqa: PLC0415
    from jobs import services  # noqa: PLC0415
    from jobs.models import GenerationJob  # noqa: PLC0415
    from jobs.queue import live_worker_slots  # noqa: PLC0415

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


# Figures into text and plots --------------------------------------------------------------------------


def spread(runs: list[dict[str, Any]], key: str, digits: int = 1) -> str:
    values = [r[key] for r in runs if r.get(key) is not None]
    return Spread(values).fmt(digits)


def delivered(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['delivered']:,} / {r['expected']:,}" for r in runs)


def all_complete(runs: list[dict[str, Any]]) -> bool:
    return all(r["complete"] == r["viewers"] and r["gaps"] == 0 and r["lost"] == 0 for r in runs)


def max_ok(runs: list[dict[str, Any]], key: str, limit: float) -> bool | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return all(v <= limit for v in values) if values else None


def ratios(ours: list[dict[str, Any]], base: list[dict[str, Any]]) -> str:
    p50 = Spread([o["p50"] / b["p50"] for o, b in zip(ours, base, strict=True)])
    p99 = Spread([o["p99"] / b["p99"] for o, b in zip(ours, base, strict=True)])
    return f"{p50.fmt(2)}x, {p99.fmt(2)}x"


def ratio_text(slow: list[dict[str, Any]], fast: list[dict[str, Any]], key: str) -> str:
    return Spread([s[key] / f[key] for s, f in zip(slow, fast, strict=True)]).fmt(0) + "x"


def plot(report: Report, out: Path) -> list[str]:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    made = []
    if "cdf" in report.plots:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, values in report.plots["cdf"].items():
            ordered = sorted(v for v in values if v > 0)
            if ordered:
                ax.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=name)
        ax.set_xscale("log")
        ax.set_xlabel("latency, event created to received (ms, log scale)")
        ax.set_ylabel("fraction of deliveries")
        ax.set_title("Many jobs: latency CDF against the polling baseline")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "latency_cdf.png", dpi=110)
        made.append("latency_cdf.png")
    if "rss" in report.plots:
        fig, ax = plt.subplots(figsize=(7, 4))
        for name, curve in report.plots["rss"].items():
            ax.plot([c for c, _ in curve], [r for _, r in curve], marker="o", label=name)
        ax.set_xlabel("open idle SSE streams")
        ax.set_ylabel("server RSS (MB)")
        ax.set_title("RSS against connections")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "rss_vs_connections.png", dpi=110)
        made.append("rss_vs_connections.png")
    if "workers" in report.plots:
        fig, ax = plt.subplots(figsize=(6, 4))
        counts = sorted(report.plots["workers"])
        medians = [statistics.median(report.plots["workers"][c]) for c in counts]
        ax.plot(counts, medians, marker="o", label="measured (median)")
        ax.plot(counts, [medians[0] / counts[0] * c for c in counts], linestyle="--", label="linear scaling")
        ax.set_xticks(counts)
        ax.set_xlabel("run_worker processes")
        ax.set_ylabel("jobs per minute (zero model delay)")
        ax.set_title("Jobs per minute against workers")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "jobs_per_minute.png", dpi=110)
        made.append("jobs_per_minute.png")
    plt.close("all")
    return made


def write(report: Report, started: dt.datetime, elapsed: float, plots: list[str], out: Path) -> Path:
    cfg = report.config
    lines = [
        "# Benchmark report",
        "",
        f"`bench/run{' --quick' if cfg.quick else ''}`, {started:%Y-%m-%d %H:%M} UTC, "
        f"{elapsed / 60:.1f} min. "
        f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"{_memory_gib():.0f} GiB, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}. "
        f"Embedded SecantusDB and Redis; server under test: {cfg.server[0]}"
        f"{' + ' + cfg.server[1] if cfg.server[0] == 'uvicorn' else ''}; "
        "clients and publisher on the same cores.",
        "",
        f"Each figure is the median of {cfg.runs} run(s), smallest-largest in brackets; "
        "a goal is met only when it "
        "holds in every run.",
        "",
    ]
    if cfg.quick:
        lines += [
            "**Quick smoke run: tiny loads, one run each. These figures say nothing about the goals.**",
            "",
        ]
    for section in report.sections:
        lines += [f"## {section.title}", "", section.setup, ""]
        lines += [f"| measure | {section.baseline_name} | contentgen | goal | |", "|---|---|---|---|---|"]
        for row in section.rows:
            lines.append(
                f"| {row.measure} | {row.baseline} | {row.ours} | {row.goal} | {met_text(row.met)} |"
            )
        lines += ["", *section.notes, ""] if section.notes else [""]
    for name in plots:
        lines += [f"![{name}]({name})", ""]
    problems = {name: found for name, found in report.problems.items() if found}
    if problems:
        lines += ["## Server log lines with errors", ""]
        for name, found in problems.items():
            lines.append(f"- `var/log/bench-{name}.log`: {len(found)} line(s), first: `{found[0][:200]}`")
        lines.append("")
    path = out / "REPORT.md"
    path.write_text("\n".join(lines))
    (out / "results.json").write_text(
        json.dumps([s.__dict__ for s in report.sections], default=lambda o: o.__dict__, indent=1)
    )
    return path


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


SCENARIOS: dict[str, Callable[[Stack, Config, Report], None]] = {
    "one-job": one_job,
    "many-jobs": many_jobs,
    "opening": opening,
    "capacity": capacity,
    "throughput": throughput,
    "queue": queue_depth,
    "choices": choices,
    "scale-out": scale_out,
}


PART_TIMEOUT = 3600.0
# The quick run's first process; the second runs the other measures. About as long as each other (about
# 20 s each on an idle machine).
QUICK_FIRST_HALF = frozenset({"many-jobs", "opening", "queue", "scale-out"})


def run_part(cfg: Config, names: list[str], part: Path) -> int:
    """Run the named measures here, on embedded services of their own; their sections, plots and server
    log problems go to `part` (JSON) after each measure."""
    report = Report(cfg)
    clock = time.monotonic()
    stack = start_stack()
    try:
        for name in names:
            print(f"  [{time.monotonic() - clock:5.1f} s] {name}", flush=True)
            SCENARIOS[name](stack, cfg, report)
            part.write_text(
                json.dumps({"sections": [asdict(s) for s in report.sections], "plots": report.plots,
                            "problems": report.problems})
            )  # fmt: skip
    finally:
        stack.stop()
    return 0


def merge(report: Report, part: Path) -> None:
    got = json.loads(part.read_text())
    for section in got["sections"]:
        rows = [Row(**row) for row in section.pop("rows")]
        report.sections.append(Section(**section, rows=rows))
    report.sections.sort(key=lambda section: int(section.title.split(".", 1)[0]))  # parts run side by side
    plots = got["plots"]
    if "workers" in plots:  # JSON made its keys strings
        plots["workers"] = {int(count): rates for count, rates in plots["workers"].items()}
    report.plots.update(plots)
    report.problems.update(got["problems"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny loads, one run each: a smoke test")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run only these measures")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where REPORT.md and the plots go")
    parser.add_argument("--runs", type=int, help="runs per measure (default: 3, or 1 with --quick)")
    parser.add_argument("--part", type=Path, help=argparse.SUPPRESS)  # internal: see run_part
    args = parser.parse_args(argv)
    cfg = Config.make(args.quick)
    if args.runs:
        cfg.runs = args.runs
    if raise_open_files() < cfg.idle_streams + 1024:
        parser.error("the open-files limit is too low for the capacity measure")
    names = [name for name in SCENARIOS if not args.only or name in args.only]
    if args.part:
        return run_part(cfg, names, args.part)
    args.out.mkdir(parents=True, exist_ok=True)
    report = Report(cfg)
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    # Each measure runs in a process of its own, on a new embedded MongoDB and Redis, so that no measure
    # starts where another left its store (README, "Why each measure gets a new database"). The quick run
    # is a smoke test: two processes at once, each on one store for its half.
    if cfg.quick:
        first = [name for name in names if name in QUICK_FIRST_HALF]
        batches = [[first, [name for name in names if name not in first]]]
    else:
        batches = [[[name]] for name in names]
    with tempfile.TemporaryDirectory(prefix="bench-parts-") as parts:
        for batch in batches:
            groups = [group for group in batch if group]
            names_text = " | ".join(", ".join(group) for group in groups)
            print(f"[{time.monotonic() - clock:6.0f} s] {names_text}", flush=True)
            running = []
            for group in groups:
                part = Path(parts) / f"{group[0]}.json"
                command = [sys.executable, "-m", "bench.suite", "--part", str(part), "--runs", str(cfg.runs)]
                command += ["--quick"] * cfg.quick + [f"--only={name}" for name in group]
                running.append((group, part, subprocess.Popen(command, cwd=ROOT)))
            failed = []
            for group, part, proc in running:
                try:
                    code = proc.wait(timeout=PART_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    code = proc.wait()
                if part.exists():
                    merge(report, part)
                if code != 0:
                    failed.append(f"bench: {', '.join(group)} failed (exit {code}); see above")
            write(report, started, time.monotonic() - clock, plot(report, args.out), args.out)  # so far
            if failed:
                print(*failed, sep="\n", file=sys.stderr)
                return 1
    path = write(report, started, time.monotonic() - clock, plot(report, args.out), args.out)
    print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
