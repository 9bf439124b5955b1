"""The suite's settings: the loads of a full and a quick run, the designs measured, the servers under test."""

from __future__ import annotations

from dataclasses import dataclass

from bench.common import ROOT, Server

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


def contentgen_server(name: str, cfg: Config, app: str = DESIGNS["contentgen"][1], **env: str) -> Server:
    kind, loop = cfg.server
    return Server(name=name, app=app, kind=kind, loop=loop, env={**CONTENTGEN_ENV, **env})


def design_server(design: str, name: str, cfg: Config) -> Server:
    return contentgen_server(name, cfg, DESIGNS[design][1])
