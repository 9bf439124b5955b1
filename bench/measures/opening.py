"""3. Opening a stream: until its first event, against a plain request to the same server."""

from __future__ import annotations

import statistics

from bench.common import Stack, client_pool, job_spec, serving
from bench.config import Config, contentgen_server
from bench.load import job_path
from bench.report import Report, Row, Section, spread

NAME = "opening"


def run(stack: Stack, cfg: Config, report: Report) -> None:
    from jobs.core import services  # noqa: PLC0415

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
