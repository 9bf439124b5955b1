"""The report: a table per measure (Row, Section, Report), the figures as text, REPORT.md, results.json
and the plots."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Spread
from bench.config import Config


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
    command: str = "bench/run"
    commit: str = ""


# Figures into text --------------------------------------------------------------------------------


def met_text(met: bool | None) -> str:
    return "" if met is None else ("met" if met else "**not met**")


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


# REPORT.md and results.json ---------------------------------------------------------------------------


def write(report: Report, started: dt.datetime, elapsed: float, plots: list[str], out: Path) -> Path:
    cfg = report.config
    commit = f"at commit `{report.commit}`, " if report.commit else ""
    lines = [
        "# Benchmark report",
        "",
        f"`{report.command}`, {started:%Y-%m-%d %H:%M} UTC, {commit}{elapsed / 60:.1f} min. "
        f"Machine: {os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"{memory_gib():.0f} GiB, Python {platform.python_version()}, "
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


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


# Plots ---------------------------------------------------------------------------------------------------


def plot(report: Report, out: Path) -> list[str]:
    """The plots the report's figures allow (each measure leaves its data in `report.plots`)."""
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
