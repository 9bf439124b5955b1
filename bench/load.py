"""The load the stream measures share: a publisher through contentgen's one publish path, a run of streams
under it, and the server's own counters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pymongo

from bench.common import ClientPool, Server, Stack, http_get, percentile, wait_quiet
from bench.config import DESIGNS, METRICS_TOKEN

PUBLISH_TIMEOUT = 10.0


class Publisher:
    """Publishes progress events through contentgen's one publish path, at a steady rate, in a thread.

    Each tick sends the events due for the jobs next in turn with `publish_many` (one insert for all of
    them, then the pushes): the way several jobs emitting at once are written."""

    def __init__(self, jobs: list[Any], rate: float, seconds: float) -> None:
        from jobs.core.events import job_groups  # noqa: PLC0415
        from progress import events  # noqa: PLC0415

        self.jobs = jobs
        self.rate = rate
        self.seconds = seconds
        self.groups = {job.pk: job_groups(job) for job in jobs}
        self.base = {job.pk: progress_payload(job) for job in jobs}
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

        from contentgen.clock import isoformat, now  # noqa: PLC0415
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
                    # Bounded: an embedded MongoDB starved by the polling baseline's connections can hold
                    # one insert for minutes.
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


def progress_payload(job: Any) -> dict[str, Any]:
    from jobs.core.events import progress_event  # noqa: PLC0415

    data = progress_event(job)
    data["status"] = "processing"
    return data


def job_path(job: Any) -> str:
    return f"/api/jobs/{job.pk}/progress"


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


def server_metric(server: Server, name: str) -> float:
    _, body = http_get(server.port, "/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    for line in body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return float("nan")
