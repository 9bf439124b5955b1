"""bench/results/INDEX.md: one row per past run, with its headline figures, newest first.

Only the latest report is kept in bench/results; a past one stays in git history, and its row says where.
A full run (not --quick, not --only) written to bench/results adds its row; `retire` first points the row
of the report it is about to overwrite at that report's commit.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from bench.common import ROOT

INDEX = "INDEX.md"
LATEST = "[REPORT.md](REPORT.md)"
COLUMNS = [
    "run (UTC)", "ran at", "measures", "min", "many jobs p50 / p99 (ms)", "RSS per idle stream (KiB)",
    "events/s", "claim at depth 10,000 (ms)", "goals not met", "report",
]  # fmt: skip
INTRO = """# Past runs of `bench/run`

One row per run, newest first. The figures are contentgen's, each the median of the run's runs: measure 2's
latency p50 / p99 (1,000 clients on their own jobs), measure 4's RSS per idle stream, measure 5's events
persisted and published per second, and measure 6's claim with 10,000 jobs queued; "goals not met" counts
the report's **not met** cells, and "-" marks a measure the run did not make. Only the latest report is
kept here ([REPORT.md](REPORT.md)); `git show` gives any other. `bench/run` adds its row when it writes a
full run here (`bench/index.py`). Reports before 2026-12-07 do not name their commit: their "ran at" is
the one README or the commit that added the report names, or "-".
"""
HEADER = re.compile(
    r"`(?P<command>bench/run[^`]*)`, (?P<run>\d{4}-\d\d-\d\d \d\d:\d\d) UTC, "
    r"(?:at commit `(?P<commit>[0-9a-f]+)`, )?(?P<minutes>[\d.]+) min\."
)


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip()[1:-1].split("|")]


def tables(text: str) -> dict[str, dict[str, list[str]]]:
    """{section number: {measure: the row's cells}} of a REPORT.md."""
    found: dict[str, dict[str, list[str]]] = {}
    rows: dict[str, list[str]] = {}
    for line in text.splitlines():
        if heading := re.match(r"## (\d+)\. ", line):
            rows = found.setdefault(heading.group(1), {})
        elif line.startswith("| ") and not line.startswith("| measure |"):
            row = cells(line)
            rows[row[0]] = row
    return found


def contentgen(found: dict[str, dict[str, list[str]]], section: str, measure: str) -> str:
    """contentgen's median in a row, without the smallest-largest; "-" when the run has no such row."""
    row = found.get(section, {}).get(measure)
    return row[2].split(" (")[0] if row else "-"


def headline(text: str, *, report: str, commit: str = "") -> list[str] | None:
    """A REPORT.md's row of the index; None for a quick run, whose figures say nothing."""
    header = HEADER.search(text)
    if header is None or "--quick" in header["command"]:
        return None
    found = tables(text)
    numbers = sorted(found, key=int)
    measures = "all" if numbers == [str(n) for n in range(1, 9)] else ", ".join(numbers)
    p50, p99 = contentgen(found, "2", "latency p50 (ms)"), contentgen(found, "2", "latency p99 (ms)")
    ran_at = header["commit"] or commit
    return [
        header["run"],
        f"`{ran_at}`" if ran_at else "-",
        measures,
        header["minutes"],
        "-" if p50 == "-" else f"{p50} / {p99}",
        contentgen(found, "4", "RSS per idle stream (KiB)"),
        contentgen(found, "5", "events persisted and published per second"),
        contentgen(found, "6", "claim at depth 10,000 (ms)"),
        str(text.count("**not met**")),
        report,
    ]


def read(path: Path) -> list[list[str]]:
    if not path.exists():
        return []
    lines = [line for line in path.read_text().splitlines() if line.startswith("| ")]
    return [cells(line) for line in lines[1:]]  # the first is the heading


def save(path: Path, rows: list[list[str]]) -> None:
    ordered = sorted(rows, key=lambda row: row[0], reverse=True)
    lines = [INTRO, f"| {' | '.join(COLUMNS)} |", "|" + "---|" * len(COLUMNS)]
    path.write_text("\n".join(lines + [f"| {' | '.join(row)} |" for row in ordered]) + "\n")


def upsert(path: Path, row: list[str]) -> None:
    """`row` in place of any row of the same run (keeping a commit that row knew and the report does not
    name); no other row keeps the latest report's link."""
    rows = read(path)
    for same in (r for r in rows if r[0] == row[0] and row[1] == "-"):
        row[1] = same[1]
    rows = [r for r in rows if r[0] != row[0]]
    for other in rows:
        if other[-1] == LATEST and row[-1] == LATEST:
            other[-1] = "not kept"
    save(path, [*rows, row])


def git(*args: str) -> tuple[int, str]:
    """A read-only git query: (exit status, output); (-1, "") where git cannot run."""
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return -1, ""
    return done.returncode, done.stdout.strip()


def head_commit() -> str:
    status, commit = git("rev-parse", "--short", "HEAD")
    return commit if status == 0 else ""


def committed(report: Path) -> str:
    """Where a report about to be overwritten stays: the commit holding it as it is, or "not kept"."""
    if not report.resolve().is_relative_to(ROOT):
        return "not kept"
    path = report.resolve().relative_to(ROOT).as_posix()
    unchanged = git("diff", "--quiet", "HEAD", "--", path)[0] == 0
    status, last = git("log", "-1", "--format=%h", "--", path)
    return f"`git show {last}:{path}`" if unchanged and status == 0 and last else "not kept"


def retire(results: Path) -> None:
    """Before a full run overwrites results/REPORT.md: that report's row points at git history."""
    report = results / "REPORT.md"
    if report.exists() and (row := headline(report.read_text(), report=committed(report))):
        upsert(results / INDEX, row)


def record(results: Path) -> None:
    """The row of the full run just written to results/REPORT.md."""
    row = headline((results / "REPORT.md").read_text(), report=LATEST)
    if row:
        upsert(results / INDEX, row)
