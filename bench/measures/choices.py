"""7. Choices by numbers: servers and event loops under the many-jobs load; json against orjson."""

from __future__ import annotations

import time
from typing import Any

from bench.common import Server, Spread, Stack, client_pool, queued_jobs, serving
from bench.config import CONTENTGEN_ENV, Config
from bench.load import job_path, progress_payload, streams_run
from bench.report import Report, Row, Section, spread

NAME = "choices"


def run(stack: Stack, cfg: Config, report: Report) -> None:
    """Servers and event loops on the many-jobs load; orjson against json on real payloads."""
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

    payloads = [progress_payload(job) for job in (jobs * (1000 // max(1, len(jobs)) + 1))[:1000]]
    out: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for index, encode in enumerate((dumps_json, dumps_orjson)):
            started = time.perf_counter()
            for payload in payloads:
                encode(payload)
            out[index].append((time.perf_counter() - started) * 1000)
    return out
